package resonance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/resonance"
)

// floatBits compares floats bit for bit: -0 differs from 0, NaN equals the
// same NaN.
var floatBits = cmp.Options{
	cmp.Comparer(func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }),
}

// graphEmbedding returns a deterministic embedding of n floats; seed 0
// adds the awkward values (-0, denormals, extremes) at the start.
func graphEmbedding(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 384))
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	if seed == 0 && n >= 6 {
		copy(v, []float32{float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-40})
	}
	return v
}

// historyRows returns the number of history rows.
func historyRows(t *testing.T, s *resonance.Store) int {
	t.Helper()
	return countRows(t, s.DB(), "history")
}

type historyRow struct {
	EntityType, EntityID, Action string
	Old, New                     *string
}

// lastHistory returns the newest history row.
func lastHistory(t *testing.T, s *resonance.Store) historyRow {
	t.Helper()
	var h historyRow
	err := s.DB().QueryRow(`SELECT entity_type, entity_id, action, old_value, new_value FROM history ORDER BY id DESC LIMIT 1`).
		Scan(&h.EntityType, &h.EntityID, &h.Action, &h.Old, &h.New)
	if err != nil {
		t.Fatalf("reading history: %v", err)
	}
	return h
}

func ptr(s string) *string { return &s }

func TestStore_UpsertNode_RoundTripsBitForBit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	want := resonance.Node{
		ID: "docs-my-notes", Type: "document", Title: "My Notes ✓", Domain: "research", Layer: "insight",
		Embedding: graphEmbedding(384, 0),
		Hash:      "abc123", Summary: "a summary\nwith two lines",
		Meta: json.RawMessage(`{"tags":["a","b"],"nested":{"deep":{"n":1.5e-7,"ok":true,"nil":null}},"semantic_tokens":[1,2]}`),
		Date: "2024-05-01T10:00:00Z",
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, want) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reads().GetNode(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, floatBits); diff != "" {
		t.Errorf("GetNode (-want +got):\n%s", diff)
	}
	nodes, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]resonance.Node{want}, nodes, floatBits); diff != "" {
		t.Errorf("GetNodes (-want +got):\n%s", diff)
	}
	// The same inside a transaction.
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		got, err := tx.GetNode(ctx, want.ID)
		if diff := cmp.Diff(want, got, floatBits); diff != "" {
			t.Errorf("Tx.GetNode (-want +got):\n%s", diff)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStore_UpsertNode_DefaultsAndNulls(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	for _, n := range []resonance.Node{
		{ID: "a", Type: "doc"},
		{ID: "b", Type: "doc", Meta: json.RawMessage("null")},
		{ID: "c", Type: "doc", Meta: json.RawMessage(" \n ")},
		{ID: "d", Type: "doc", Meta: json.RawMessage("{}"), Embedding: []float32{}},
	} {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatalf("UpsertNode(%+v): %v", n, err)
		}
	}
	type row struct {
		ID, Domain, Layer                                 string
		Title, Hash, Summary, Meta, Date, EmbeddingIsNull *string
	}
	var got []row
	rows, err := s.DB().Query(`SELECT id, domain, layer, title, hash, summary, meta, date,
		CASE WHEN embedding IS NULL THEN 'null' END FROM nodes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ID, &r.Domain, &r.Layer, &r.Title, &r.Hash, &r.Summary, &r.Meta, &r.Date, &r.EmbeddingIsNull); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	rows.Close()
	null := ptr("null")
	want := []row{
		{ID: "a", Domain: "knowledge", Layer: "experience", EmbeddingIsNull: null},
		{ID: "b", Domain: "knowledge", Layer: "experience", EmbeddingIsNull: null},
		{ID: "c", Domain: "knowledge", Layer: "experience", EmbeddingIsNull: null},
		{ID: "d", Domain: "knowledge", Layer: "experience", Meta: ptr("{}"), EmbeddingIsNull: null},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored columns (-want +got):\n%s", diff)
	}
	n, err := s.Reads().GetNode(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(resonance.Node{ID: "b", Type: "doc", Domain: "knowledge", Layer: "experience"}, n); diff != "" {
		t.Errorf("GetNode of a node without optional fields (-want +got):\n%s", diff)
	}
}

func TestStore_UpsertNode_ReplacesEveryColumn(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	full := resonance.Node{ID: "x", Type: "doc", Title: "T", Domain: "d", Layer: "l", Embedding: []float32{1, 2},
		Hash: "h", Summary: "s", Meta: json.RawMessage(`{"a":1}`), Date: "2024"}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, full) }); err != nil {
		t.Fatal(err)
	}
	second := resonance.Node{ID: "x", Type: "concept"}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, second) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reads().GetNode(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	want := resonance.Node{ID: "x", Type: "concept", Domain: "knowledge", Layer: "experience"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after second upsert (-want +got):\n%s", diff)
	}
	if n := countRows(t, s.DB(), "nodes"); n != 1 {
		t.Errorf("nodes = %d, want 1", n)
	}
}

func TestStore_UpsertNode_HistoryRecordsNodeWithEmbeddingDigest(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	emb := graphEmbedding(384, 7)
	n := resonance.Node{ID: "n1", Type: "doc", Title: "quote \" backslash \\ tab \t nl \n ctl \x01 sep \u2028 <&>",
		Embedding: emb, Meta: json.RawMessage(`{"k": [1, 2]}`)}
	before := historyRows(t, s)
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
		t.Fatal(err)
	}
	if got := historyRows(t, s) - before; got != 1 {
		t.Fatalf("history rows added = %d, want 1", got)
	}
	h := lastHistory(t, s)
	if h.EntityType != "node" || h.EntityID != "n1" || h.Action != "upsert" || h.Old != nil || h.New == nil {
		t.Fatalf("history row = %+v", h)
	}
	var rec struct {
		ID, Type, Title, Domain, Layer, Hash, Summary, Date string
		Embedding                                           struct {
			Dim    int
			SHA256 string
		}
		Meta json.RawMessage
	}
	if err := json.Unmarshal([]byte(*h.New), &rec); err != nil {
		t.Fatalf("history new_value is not JSON: %v\n%s", err, *h.New)
	}
	blob, _ := resonance.EncodeEmbedding(emb)
	sum := sha256.Sum256(blob)
	if rec.Embedding.Dim != 384 || rec.Embedding.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("embedding digest = %+v, want dim 384 sha256 %x", rec.Embedding, sum)
	}
	if want := strings.ToValidUTF8(n.Title, "\uFFFD"); rec.Title != want {
		t.Errorf("title in history = %q, want %q", rec.Title, want)
	}
	if rec.Domain != "knowledge" || rec.Layer != "experience" || string(rec.Meta) != `{"k": [1, 2]}` {
		t.Errorf("history record = %+v", rec)
	}
	if len(*h.New) > 1000 {
		t.Errorf("history new_value is %d bytes; the embedding should be a digest, not numbers", len(*h.New))
	}
	// The history text is what encoding/json writes (without HTML escaping).
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(n.Title)
	if want := strings.TrimSpace(buf.String()); !strings.Contains(*h.New, `"title":`+want+`,`) {
		t.Errorf("history title is not encoded like encoding/json %s:\n%s", want, *h.New)
	}
}

func TestStore_GetNode_NotFound(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	_, err := s.Reads().GetNode(ctx, "missing-id")
	if !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"missing-id"`) {
		t.Errorf("GetNode(missing) = %v, want ErrNotFound naming the id", err)
	}
	_, err = nodeHash(ctx, s, "missing-id")
	if !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"missing-id"`) {
		t.Errorf("NodeHash(missing) = %v, want ErrNotFound naming the id", err)
	}
}

func TestStore_GetNodes_Filters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var all []resonance.Node
	domains := []string{"", "lexicon", "research"}
	types := []string{"doc", "concept"}
	// Insert out of id order, so rowid order differs from id order.
	for i := range 30 {
		n := resonance.Node{
			ID:        fmt.Sprintf("n%02d", (i*7)%30),
			Type:      types[i%2],
			Domain:    domains[i%3],
			Embedding: graphEmbedding(8, uint64(i+1)),
			Meta:      json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		}
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatal(err)
		}
		if n.Domain == "" {
			n.Domain = "knowledge"
		}
		n.Layer = "experience"
		all = append(all, n)
	}
	// Re-upserting keeps a node's rowid, so its place in the order.
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, all[3]) }); err != nil {
		t.Fatal(err)
	}
	expect := func(f resonance.NodeFilter) []resonance.Node {
		var out []resonance.Node
		for _, n := range all {
			if (f.Domain == "" || n.Domain == f.Domain) && (f.Type == "" || n.Type == f.Type) {
				if f.SkipEmbedding {
					n.Embedding = nil
				}
				out = append(out, n)
			}
		}
		out = out[min(f.Offset, len(out)):]
		if f.Limit > 0 {
			out = out[:min(f.Limit, len(out))]
		}
		return append([]resonance.Node{}, out...)
	}
	filters := []resonance.NodeFilter{
		{},
		{SkipEmbedding: true},
		{Domain: "lexicon"},
		{Domain: "knowledge", SkipEmbedding: true},
		{Type: "concept"},
		{Domain: "research", Type: "doc"},
		{Domain: "nowhere"},
		{Limit: 5},
		{Limit: 5, Offset: 5},
		{Offset: 28},
		{Offset: 30},
		{Offset: 100, Limit: 3},
		{Type: "doc", Limit: 4, Offset: 2, SkipEmbedding: true},
		{Limit: 1000},
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			got, err := s.Reads().GetNodes(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(expect(f), got, floatBits); diff != "" {
				t.Errorf("GetNodes (-want +got):\n%s", diff)
			}
			if f.SkipEmbedding && slices.ContainsFunc(got, func(n resonance.Node) bool { return n.Embedding != nil }) {
				t.Error("SkipEmbedding returned an embedding")
			}
		})
	}
	if _, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{Limit: -1}); !errors.Is(err, resonance.ErrInvalid) {
		t.Errorf("negative limit: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{Offset: -1}); !errors.Is(err, resonance.ErrInvalid) {
		t.Errorf("negative offset: err = %v, want ErrInvalid", err)
	}
}

func TestStore_NodeHashAndUpdates(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc", Hash: "h1", Meta: json.RawMessage(`{"v":1}`), Date: "2024-01-01"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	if h, err := nodeHash(ctx, s, "a"); err != nil || h != "h1" {
		t.Errorf("NodeHash(a) = %q, %v; want h1", h, err)
	}
	if h, err := nodeHash(ctx, s, "b"); err != nil || h != "" {
		t.Errorf("NodeHash(b) = %q, %v; want empty", h, err)
	}

	t.Run("UpdateNodeMeta", func(t *testing.T) {
		if err := updateNodeMeta(ctx, s, "a", json.RawMessage(`{"v":2}`)); err != nil {
			t.Fatal(err)
		}
		want := historyRow{EntityType: "node", EntityID: "a", Action: "update_meta", Old: ptr(`{"v":1}`), New: ptr(`{"v":2}`)}
		if diff := cmp.Diff(want, lastHistory(t, s)); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if err := updateNodeMeta(ctx, s, "a", nil); err != nil {
			t.Fatal(err)
		}
		want = historyRow{EntityType: "node", EntityID: "a", Action: "update_meta", Old: ptr(`{"v":2}`)}
		if diff := cmp.Diff(want, lastHistory(t, s)); diff != "" {
			t.Errorf("history after clearing (-want +got):\n%s", diff)
		}
		if n, _ := s.Reads().GetNode(ctx, "a"); n.Meta != nil {
			t.Errorf("meta after clearing = %s, want nil", n.Meta)
		}
	})
	t.Run("UpdateNodeDate", func(t *testing.T) {
		if err := updateNodeDate(ctx, s, "a", "2025-02-03"); err != nil {
			t.Fatal(err)
		}
		want := historyRow{EntityType: "node", EntityID: "a", Action: "update_date", Old: ptr("2024-01-01"), New: ptr("2025-02-03")}
		if diff := cmp.Diff(want, lastHistory(t, s)); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if n, _ := s.Reads().GetNode(ctx, "a"); n.Date != "2025-02-03" {
			t.Errorf("date = %q", n.Date)
		}
	})
	t.Run("MissingNode", func(t *testing.T) {
		before := historyRows(t, s)
		if err := updateNodeMeta(ctx, s, "zz", json.RawMessage(`{}`)); !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"zz"`) {
			t.Errorf("UpdateNodeMeta(missing) = %v, want ErrNotFound naming it", err)
		}
		if err := updateNodeDate(ctx, s, "zz", "2024"); !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"zz"`) {
			t.Errorf("UpdateNodeDate(missing) = %v, want ErrNotFound naming it", err)
		}
		if got := historyRows(t, s); got != before {
			t.Errorf("failed updates wrote %d history rows", got-before)
		}
	})
}

// TestStore_CorruptEmbeddingIsAnError: a stored embedding that is not a
// whole finite float32 vector (the original may have written one) is an
// ErrInvalid naming the node, and the rest of the node still comes back,
// from GetNode and from GetNodes, which returns every node.
func TestStore_CorruptEmbeddingIsAnError(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	nan := []byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f} // NaN, 1
	for id, blob := range map[string][]byte{"short": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "nan": nan} {
		if _, err := s.DB().Exec(`INSERT INTO nodes (id, type, title, embedding) VALUES (?, 'doc', 'T', ?)`, id, blob); err != nil {
			t.Fatal(err)
		}
		n, err := s.Reads().GetNode(ctx, id)
		if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
			t.Errorf("GetNode(%s) = %v, want ErrInvalid naming the node", id, err)
		}
		if n.ID != id || n.Type != "doc" || n.Title != "T" || n.Embedding != nil {
			t.Errorf("GetNode(%s) = %+v, want the rest of the node without its embedding", id, n)
		}
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "good", Type: "doc", Embedding: []float32{1, 2}})
	}); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{})
	if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), `"short"`) || !strings.Contains(err.Error(), `"nan"`) {
		t.Errorf("GetNodes over corrupt blobs = %v, want ErrInvalid naming both", err)
	}
	if len(nodes) != 3 || nodes[2].ID != "good" || len(nodes[2].Embedding) != 2 || nodes[0].Embedding != nil || nodes[1].Title != "T" {
		t.Errorf("GetNodes over corrupt blobs returned %+v, want all three, the corrupt ones without an embedding", nodes)
	}
	if nodes, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{SkipEmbedding: true}); err != nil || len(nodes) != 3 {
		t.Errorf("metadata scan = %d nodes, %v; want 3 and no error", len(nodes), err)
	}
}

func TestTx_GraphWritesRollBackTogether(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"}); err != nil {
			return err
		}
		if err := tx.InsertEdge(ctx, "a", "b", ""); err != nil {
			return err
		}
		if err := tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "c"}); err != nil {
			return err
		}
		// Writes are visible inside the transaction.
		if _, err := tx.GetNode(ctx, "a"); err != nil {
			return err
		}
		if out, err := tx.OutgoingEdges(ctx, "a"); err != nil || len(out) != 2 {
			return fmt.Errorf("outgoing inside tx = %v, %v", out, err)
		}
		return tx.UpsertNode(ctx, resonance.Node{ID: "bad", Type: "doc", Meta: json.RawMessage(`[1]`)})
	})
	if !errors.Is(err, resonance.ErrInvalid) {
		t.Fatalf("Tx error = %v, want ErrInvalid", err)
	}
	for _, table := range []string{"nodes", "edges", "history"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("%s has %d rows after the rollback", table, n)
		}
	}
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		_, err := db.New(r).UpdateNodeDate(ctx, db.UpdateNodeDateParams{ID: "a"})
		return err
	})
	if !errors.Is(err, resonance.ErrReadOnly) {
		t.Errorf("a generated write query in Read = %v, want ErrReadOnly", err)
	}
}

// FuzzUpsertNode feeds arbitrary ids, titles and meta to UpsertNode: it
// either refuses them with ErrInvalid and writes nothing, or stores them
// so that meta reads back byte for byte and the history row is JSON
// holding the title as encoding/json would write it.
func FuzzUpsertNode(f *testing.F) {
	f.Add("a", "title", `{"a":1}`)
	f.Add("", "no id", "")
	f.Add("b", "\x00\x1f\"\\\u2028\xff", `{"nested":{"x":[1,2,{"y":null}]}}`)
	f.Add("c", "", `[1]`)
	f.Add("d", "t", `null`)
	f.Add("e", "t", ` {"k":"v"} `)
	f.Add("f", "t", `{"a":`)
	ctx := context.Background()
	s, err := resonance.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), resonance.Options{Create: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, id, title, meta string) {
		before := historyRows(t, s)
		n := resonance.Node{ID: id, Type: "doc", Title: title, Meta: json.RawMessage(meta)}
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) })
		if err != nil {
			if !errors.Is(err, resonance.ErrInvalid) {
				t.Fatalf("UpsertNode(%q, %q, %q) = %v, want nil or ErrInvalid", id, title, meta, err)
			}
			if got := historyRows(t, s); got != before {
				t.Fatalf("refused input wrote %d history rows", got-before)
			}
			return
		}
		got, err := s.Reads().GetNode(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(meta) != "" && strings.TrimSpace(meta) != "null" && string(got.Meta) != meta {
			t.Errorf("meta %q read back as %q", meta, got.Meta)
		}
		h := lastHistory(t, s)
		var rec struct{ Title string }
		if err := json.Unmarshal([]byte(*h.New), &rec); err != nil {
			t.Fatalf("history is not JSON: %v\n%s", err, *h.New)
		}
		var want string
		b, _ := json.Marshal(title)
		json.Unmarshal(b, &want)
		if rec.Title != want {
			t.Errorf("history title %q, want %q", rec.Title, want)
		}
	})
}

// An unfiltered scan sizes its result once, from the node count less the
// offset and at most the limit, instead of growing it row by row.
func TestGetNodes_SizedOnce(t *testing.T) {
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "sized", 300)
	ctx := context.Background()
	for _, f := range []resonance.NodeFilter{
		{SkipEmbedding: true}, {}, {Offset: 100}, {Limit: 50}, {Limit: 50, Offset: 280}, {Offset: 400},
	} {
		nodes, err := s.Reads().GetNodes(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		want := max(0, 300-f.Offset)
		if f.Limit > 0 {
			want = min(want, f.Limit)
		}
		if len(nodes) != want || cap(nodes) != want {
			t.Errorf("GetNodes(%+v): len %d, cap %d; want both %d", f, len(nodes), cap(nodes), want)
		}
	}
}

// nodeHash, updateNodeMeta and updateNodeDate run the ReadTx and Tx
// methods in a transaction of their own.
func nodeHash(ctx context.Context, s *resonance.Store, id string) (h string, err error) {
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		h, err = r.NodeHash(ctx, id)
		return err
	})
	return h, err
}

func updateNodeMeta(ctx context.Context, s *resonance.Store, id string, meta json.RawMessage) error {
	return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpdateNodeMeta(ctx, id, meta) })
}

func updateNodeDate(ctx context.Context, s *resonance.Store, id, date string) error {
	return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpdateNodeDate(ctx, id, date) })
}
