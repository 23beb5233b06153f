package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

func TestStore_InsertEdge(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, "a", "b", "") }); err != nil {
		t.Fatal(err)
	}
	want := historyRow{EntityType: "edge", EntityID: "a|b|related_to", Action: "insert",
		New: ptr(`{"source":"a","target":"b","type":"related_to"}`)}
	if diff := cmp.Diff(want, lastHistory(t, s)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// A second insert of the same key changes nothing but is recorded.
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "b", Confidence: 0.5, Veracity: 1})
	}); err != nil {
		t.Fatal(err)
	}
	before := historyRows(t, s)
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, "a", "b", "related_to") }); err != nil {
		t.Fatal(err)
	}
	if got := historyRows(t, s) - before; got != 1 {
		t.Errorf("ignored insert added %d history rows, want 1", got)
	}
	if h := lastHistory(t, s); h.Action != "insert_ignored" {
		t.Errorf("ignored insert recorded as %q, want insert_ignored", h.Action)
	}
	out, err := s.Reads().OutgoingEdges(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	wantEdges := []resonance.Edge{{Source: "a", Target: "b", Type: "related_to", Confidence: 0.5, Veracity: 1}}
	if diff := cmp.Diff(wantEdges, out); diff != "" {
		t.Errorf("INSERT OR IGNORE changed the edge (-want +got):\n%s", diff)
	}
}

func TestStore_UpsertSemanticEdge(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	// Go cannot tell an unset field from 0, so the edge is stored as given:
	// an edge read and written back is unchanged, zeros included (D3).
	e := resonance.Edge{Source: "a", Target: "b", Type: "supports", Confidence: 0, Veracity: 0.5}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertSemanticEdge(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	out, _ := s.Reads().OutgoingEdges(ctx, "a")
	if diff := cmp.Diff([]resonance.Edge{e}, out); diff != "" {
		t.Errorf("an edge upserted with confidence 0 (-want +got):\n%s", diff)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertSemanticEdge(ctx, out[0]) }); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Reads().OutgoingEdges(ctx, "a"); !cmp.Equal(again, out) {
		t.Errorf("an edge read and written back changed: %+v, was %+v", again, out)
	}
	e = resonance.Edge{Source: "a", Target: "b", Type: "supports", Confidence: 0.25, Veracity: 0.75, ContextSource: "paper.md"}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertSemanticEdge(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	out, _ = s.Reads().OutgoingEdges(ctx, "a")
	if diff := cmp.Diff([]resonance.Edge{e}, out); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}
	wantH := historyRow{EntityType: "edge", EntityID: "a|b|supports", Action: "upsert",
		New: ptr(`{"source":"a","target":"b","type":"supports","confidence":0.25,"veracity":0.75,"context_source":"paper.md"}`)}
	if diff := cmp.Diff(wantH, lastHistory(t, s)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if n := countRows(t, s.DB(), "edges"); n != 1 {
		t.Errorf("edges = %d, want 1", n)
	}
}

func TestStore_OutgoingAndIncomingEdges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	for _, e := range [][3]string{{"a", "c", "x"}, {"a", "b", "y"}, {"a", "b", "x"}, {"b", "a", "x"}, {"c", "b", "x"}} {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, e[0], e[1], e[2]) }); err != nil {
			t.Fatal(err)
		}
	}
	edge := func(src, dst, typ string) resonance.Edge {
		return resonance.Edge{Source: src, Target: dst, Type: typ, Confidence: 1, Veracity: 1}
	}
	out, err := s.Reads().OutgoingEdges(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]resonance.Edge{edge("a", "b", "x"), edge("a", "b", "y"), edge("a", "c", "x")}, out); diff != "" {
		t.Errorf("OutgoingEdges(a) (-want +got):\n%s", diff)
	}
	in, err := readIncoming(ctx, s, "b")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]resonance.Edge{edge("a", "b", "x"), edge("a", "b", "y"), edge("c", "b", "x")}, in); diff != "" {
		t.Errorf("IncomingEdges(b) (-want +got):\n%s", diff)
	}
	none, err := s.Reads().OutgoingEdges(ctx, "nobody")
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("OutgoingEdges(nobody) = %#v, %v; want an empty slice", none, err)
	}
}

// TestStore_EveryWriteLeavesOneHistoryRow counts history around every
// write operation inside a Tx.
func TestStore_EveryWriteLeavesOneHistoryRow(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	node := resonance.Node{ID: "n", Type: "doc", Embedding: []float32{1, 2, 3}, Meta: json.RawMessage(`{}`)}
	ops := []struct {
		name string
		run  func(w graphWriter) error
	}{
		{"UpsertNode insert", func(w graphWriter) error { return w.UpsertNode(ctx, node) }},
		{"UpsertNode update", func(w graphWriter) error { return w.UpsertNode(ctx, node) }},
		{"InsertEdge", func(w graphWriter) error { return w.InsertEdge(ctx, "n", "m", "") }},
		{"InsertEdge ignored", func(w graphWriter) error { return w.InsertEdge(ctx, "n", "m", "") }},
		{"UpsertSemanticEdge insert", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "n", Target: "o", Confidence: 0.5})
		}},
		{"UpsertSemanticEdge update", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "n", Target: "o", Confidence: 0.7})
		}},
		{"UpdateNodeMeta", func(w graphWriter) error {
			return w.UpdateNodeMeta(ctx, "n", json.RawMessage(`{"a":1}`))
		}},
		{"UpdateNodeDate", func(w graphWriter) error { return w.UpdateNodeDate(ctx, "n", "2024") }},
	}
	for _, op := range ops {
		t.Run("Tx/"+op.name, func(t *testing.T) {
			before := historyRows(t, s)
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return op.run(tx) }); err != nil {
				t.Fatal(err)
			}
			if got := historyRows(t, s) - before; got != 1 {
				t.Errorf("history rows added = %d, want 1", got)
			}
		})
	}
}

// graphWriter is where the graph writes are: a write transaction.
type graphWriter = *resonance.Tx

// TestStore_BadInputWritesNothing is D9: each bad input is refused with
// ErrInvalid, the error names the node or edge, and no row is written, not
// even history, and the transaction around it rolls back.
func TestStore_BadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "exists", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	emb := func(bad float32) []float32 { v := graphEmbedding(384, 3); v[17] = bad; return v }
	node := func(id, typ, meta string, e []float32) func(graphWriter) error {
		return func(w graphWriter) error {
			return w.UpsertNode(ctx, resonance.Node{ID: id, Type: typ, Title: "Some Title", Meta: json.RawMessage(meta), Embedding: e})
		}
	}
	tests := []struct {
		name  string
		run   func(graphWriter) error
		names []string // what the error must mention
	}{
		{"empty id", node("", "doc", "", nil), []string{"empty id", `"Some Title"`}},
		{"blank id", node("  ", "doc", "", nil), []string{"id is empty"}},
		{"empty type", node("n1", "", "", nil), []string{`"n1"`, "type is empty"}},
		{"meta array", node("n2", "doc", `[1,2]`, nil), []string{`"n2"`, "array"}},
		{"meta string", node("n3", "doc", `"text"`, nil), []string{`"n3"`, "string"}},
		{"meta number", node("n4", "doc", `42`, nil), []string{`"n4"`, "number"}},
		{"meta bool", node("n4b", "doc", `true`, nil), []string{`"n4b"`, "boolean"}},
		{"meta invalid JSON", node("n5", "doc", `{"a":`, nil), []string{`"n5"`, "not valid JSON"}},
		{"meta trailing garbage", node("n6", "doc", `{} {}`, nil), []string{`"n6"`, "not valid JSON"}},
		{"NaN embedding", node("n7", "doc", "", emb(nan)), []string{`"n7"`, "embedding[17] is NaN"}},
		{"+Inf embedding", node("n8", "doc", "", emb(inf)), []string{`"n8"`, "+Inf"}},
		{"-Inf embedding", node("n9", "doc", "", emb(-inf)), []string{`"n9"`, "-Inf"}},
		{"id not UTF-8", node("k\xff", "doc", "", nil), []string{`"k\xff"`, "not valid UTF-8"}},
		{"title not UTF-8", func(w graphWriter) error {
			return w.UpsertNode(ctx, resonance.Node{ID: "n10", Type: "doc", Title: "t\xfe"})
		}, []string{`"n10"`, "not valid UTF-8"}},
		{"meta not UTF-8", node("n11", "doc", "{\"a\":\"\xff\"}", nil), []string{`"n11"`, "meta is not valid UTF-8"}},
		{"edge source not UTF-8", func(w graphWriter) error { return w.InsertEdge(ctx, "a\xff", "b", "") }, []string{"not valid UTF-8"}},
		{"semantic edge context not UTF-8", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "b", ContextSource: "c\xff"})
		}, []string{"not valid UTF-8"}},
		{"edge empty source", func(w graphWriter) error { return w.InsertEdge(ctx, "", "b", "") }, []string{`"" -> "b"`, "source is empty"}},
		{"edge empty target", func(w graphWriter) error { return w.InsertEdge(ctx, "a", "", "x") }, []string{`"a" -> ""`, "target is empty"}},
		{"edge blank type", func(w graphWriter) error { return w.InsertEdge(ctx, "a", "b", " ") }, []string{`"a" -> "b"`, "type"}},
		{"semantic edge empty target", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a"})
		}, []string{`"a" -> ""`}},
		{"semantic edge NaN confidence", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "b", Confidence: math.NaN()})
		}, []string{`"a" -> "b"`, "confidence is NaN"}},
		{"semantic edge Inf veracity", func(w graphWriter) error {
			return w.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "b", Veracity: math.Inf(-1)})
		}, []string{"veracity is -Inf"}},
		{"meta update array", func(w graphWriter) error {
			return w.UpdateNodeMeta(ctx, "exists", json.RawMessage(`[]`))
		}, []string{`"exists"`, "array"}},
		{"meta update empty id", func(w graphWriter) error {
			return w.UpdateNodeMeta(ctx, "", json.RawMessage(`{}`))
		}, []string{"id is empty"}},
		{"date update empty id", func(w graphWriter) error { return w.UpdateNodeDate(ctx, "", "2024") }, []string{"id is empty"}},
	}
	counts := func() [3]int {
		return [3]int{countRows(t, s.DB(), "nodes"), countRows(t, s.DB(), "edges"), historyRows(t, s)}
	}
	check := func(t *testing.T, err error, names []string, before [3]int) {
		t.Helper()
		if !errors.Is(err, resonance.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		for _, n := range names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("error %q does not mention %s", err, n)
			}
		}
		if after := counts(); after != before {
			t.Errorf("rows (nodes, edges, history) %v -> %v: bad input wrote something", before, after)
		}
	}
	for _, tt := range tests {
		t.Run("Tx/"+tt.name, func(t *testing.T) {
			before := counts()
			// The caller's transaction wrote a node first; the bad input's
			// error rolls it back with everything else.
			err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				if err := tx.UpsertNode(ctx, resonance.Node{ID: "tx-node", Type: "doc"}); err != nil {
					return err
				}
				return tt.run(tx)
			})
			check(t, err, tt.names, before)
		})
	}
}

func readIncoming(ctx context.Context, s *resonance.Store, id string) (in []resonance.Edge, err error) {
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		in, err = r.IncomingEdges(ctx, id)
		return err
	})
	return in, err
}
