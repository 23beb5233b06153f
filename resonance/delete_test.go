package resonance_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// deleteGraph writes a small graph around the hub "hub": edges to and from
// it of two types, a self loop, a lexicon concept, and an embedding on
// every node that scores against q.
func deleteGraph(t *testing.T, s *resonance.Store) {
	t.Helper()
	ctx := context.Background()
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		nodes := []resonance.Node{
			{ID: "hub", Type: "concept", Domain: "lexicon", Title: "Hub", Embedding: []float32{1, 0, 0}, Meta: []byte(`{"aliases":["h"]}`), Date: "2024-01-01"},
			{ID: "a", Type: "doc", Embedding: []float32{0.9, 0.1, 0}},
			{ID: "b", Type: "doc", Embedding: []float32{0.8, 0.2, 0}},
			{ID: "c", Type: "doc", Embedding: []float32{0.7, 0.3, 0}},
		}
		if err := tx.UpsertNodes(ctx, nodes); err != nil {
			return err
		}
		if err := tx.InsertEdges(ctx, []resonance.Edge{
			{Source: "hub", Target: "a"}, {Source: "b", Target: "hub"}, {Source: "hub", Target: "hub"},
			{Source: "a", Target: "b"}, {Source: "c", Target: "a", Type: "cites"},
		}); err != nil {
			return err
		}
		return tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "c", Target: "hub", Type: "cites", Confidence: 0.5, Veracity: 1, ContextSource: "x.md"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTx_DeleteNodes_Hub(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	other := openStoreAt(t, path, resonance.Options{}) // another store, its search copy loaded before
	deleteGraph(t, s)
	q := []float32{1, 0, 0}
	for _, st := range []*resonance.Store{s, other} {
		if got := searchIDs(mustSearch(t, st, q, resonance.SearchOptions{K: 10})); !slices.Contains(got, "hub") {
			t.Fatalf("before the delete, search finds %v, without hub", got)
		}
	}
	warm := startSearchChild(t, path, q) // another process, its search warm before the delete
	if got := warm.search(t); !strings.Contains(got, `"hub"`) {
		t.Fatalf("another process's search before the delete: %s, without hub", got)
	}
	var upserted string
	if err := s.DB().QueryRow(`SELECT new_value FROM history WHERE entity_id = 'hub' AND action = 'upsert'`).Scan(&upserted); err != nil {
		t.Fatal(err)
	}
	before := historyRows(t, s)

	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteNodes(ctx, "hub", "hub") }); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Reads().GetNode(ctx, "hub"); !errors.Is(err, resonance.ErrNotFound) {
		t.Errorf("GetNode after delete: %v, want ErrNotFound", err)
	}
	var edges []string
	rows, err := s.DB().Query(`SELECT source || '>' || target || ':' || type FROM edges ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		rows.Scan(&e)
		edges = append(edges, e)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"a>b:related_to", "c>a:cites"}, edges); diff != "" {
		t.Errorf("edges left (-want +got):\n%s", diff)
	}
	// One history row per removal: four edges, then the node, whose old
	// value is what its upsert recorded.
	var got []historyRow
	rows, err = s.DB().Query(`SELECT entity_type, entity_id, action, old_value, new_value FROM history WHERE id > (SELECT max(id) - 5 FROM history) ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h historyRow
		if err := rows.Scan(&h.EntityType, &h.EntityID, &h.Action, &h.Old, &h.New); err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	rows.Close()
	want := []historyRow{
		{"edge", "b|hub|related_to", "delete", ptr(`{"source":"b","target":"hub","type":"related_to","confidence":1,"veracity":1,"context_source":""}`), nil},
		{"edge", "c|hub|cites", "delete", ptr(`{"source":"c","target":"hub","type":"cites","confidence":0.5,"veracity":1,"context_source":"x.md"}`), nil},
		{"edge", "hub|a|related_to", "delete", ptr(`{"source":"hub","target":"a","type":"related_to","confidence":1,"veracity":1,"context_source":""}`), nil},
		{"edge", "hub|hub|related_to", "delete", ptr(`{"source":"hub","target":"hub","type":"related_to","confidence":1,"veracity":1,"context_source":""}`), nil},
		{"node", "hub", "delete", &upserted, nil},
	}
	slices.SortFunc(got[:4], func(a, b historyRow) int { return strings.Compare(a.EntityID, b.EntityID) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if n := historyRows(t, s) - before; n != 5 {
		t.Errorf("the delete wrote %d history rows, want 5", n)
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes != 3 || st.Edges != 2 || st.Vectors != 3 {
		t.Errorf("Stats after delete: %+v, want 3 nodes, 2 edges, 3 vectors", st)
	}
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		lex, err := r.Lexicon(ctx)
		if err != nil {
			return err
		}
		if len(lex) != 0 {
			t.Errorf("Lexicon after delete: %v, want none", lex)
		}
		for _, id := range []string{"a", "b", "c"} {
			nb, err := r.Neighbourhood(ctx, id, resonance.NeighbourhoodOptions{Depth: 6, Direction: "both"})
			if err != nil {
				return err
			}
			for _, n := range nb.Nodes {
				if n.ID == "hub" {
					t.Errorf("neighbourhood of %q holds the deleted hub", id)
				}
			}
			in, err := r.IncomingEdges(ctx, id)
			if err != nil {
				return err
			}
			out, err := r.OutgoingEdges(ctx, id)
			if err != nil {
				return err
			}
			for _, e := range append(in, out...) {
				if e.Source == "hub" || e.Target == "hub" {
					t.Errorf("edge %+v of %q touches the deleted hub", e, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every search, through the copies loaded before the delete, and in
	// another process.
	for i, st := range []*resonance.Store{s, other} {
		if got := searchIDs(mustSearch(t, st, q, resonance.SearchOptions{K: 10})); slices.Contains(got, "hub") {
			t.Errorf("store %d: search after delete finds %v, with hub", i, got)
		}
		if got := searchIDs(mustSearch(t, st, q, resonance.SearchOptions{K: 1})); !slices.Equal(got, []string{"a"}) {
			t.Errorf("store %d: the best hit after the delete of the best: %v, want [a]", i, got)
		}
	}
	if out := warm.search(t); strings.Contains(out, `"hub"`) || !strings.Contains(out, `"a"`) {
		t.Errorf("another process's search, warm before the delete, after it: %s, want a hit list without hub", out)
	}
	if out := startSearchChild(t, path, q).search(t); strings.Contains(out, `"hub"`) || !strings.Contains(out, `"a"`) {
		t.Errorf("a new process's search after delete: %s, want a hit list without hub", out)
	}
}

// searchChild is a child process (the test binary, re-run) that keeps a
// store open and searches it for q each time it is asked.
type searchChild struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func startSearchChild(t *testing.T, path string, q []float32) *searchChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSearchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RESONANCE_DELETE_CHILD_DB="+path, fmt.Sprintf("RESONANCE_DELETE_CHILD_Q=%v", q))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return &searchChild{in, bufio.NewReader(out)}
}

// search asks the child to search and returns the ids it found, each
// quoted, on one line.
func (c *searchChild) search(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(c.in, "search\n"); err != nil {
		t.Fatalf("asking the child to search: %v", err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("the child's search: %v", err)
	}
	return line
}

// TestHelperSearchChild is the child of startSearchChild: for each line on
// stdin it searches and prints the ids it found.
func TestHelperSearchChild(t *testing.T) {
	path := os.Getenv("RESONANCE_DELETE_CHILD_DB")
	if path == "" {
		t.Skip("run by startSearchChild")
	}
	var q []float32
	for _, f := range strings.Fields(strings.Trim(os.Getenv("RESONANCE_DELETE_CHILD_Q"), "[]")) {
		var v float32
		fmt.Sscan(f, &v)
		q = append(q, v)
	}
	s, err := resonance.Open(context.Background(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		res, err := s.SearchByVector(context.Background(), q, resonance.SearchOptions{K: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			fmt.Printf("%q ", h.ID)
		}
		fmt.Println()
	}
}

func TestTx_DeleteNodes_UnknownWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	deleteGraph(t, s)
	before := historyRows(t, s)
	for _, ids := range [][]string{{"nope"}, {"a", "nope", "b"}, {""}} {
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			err := tx.DeleteNodes(ctx, ids...)
			if !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) && ids[0] != "" {
				t.Errorf("DeleteNodes(%q): %v, want ErrNotFound naming \"nope\"", ids, err)
			}
			return nil // commit whatever the call wrote: it must be nothing
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := historyRows(t, s) - before; n != 0 {
		t.Errorf("failed deletes wrote %d history rows", n)
	}
	if n, e := countRows(t, s.DB(), "nodes"), countRows(t, s.DB(), "edges"); n != 4 || e != 6 {
		t.Errorf("after failed deletes: %d nodes, %d edges, want 4 and 6", n, e)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteNodes(ctx) }); err != nil {
		t.Errorf("DeleteNodes of no ids: %v", err)
	}
}

// TestTx_DeleteNodes_Many deletes many nodes in one call, ids that JSON
// could not carry among them (written by another program).
func TestTx_DeleteNodes_Many(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	const n = 300
	var nodes []resonance.Node
	var edges []resonance.Edge
	for i := range n {
		nodes = append(nodes, resonance.Node{ID: fmt.Sprintf("n%03d", i), Type: "doc"})
		edges = append(edges, resonance.Edge{Source: fmt.Sprintf("n%03d", i), Target: fmt.Sprintf("n%03d", (i+1)%n)},
			resonance.Edge{Source: fmt.Sprintf("n%03d", (i*7)%n), Target: fmt.Sprintf("n%03d", i), Type: "seven"})
	}
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNodes(ctx, nodes); err != nil {
			return err
		}
		return tx.InsertEdges(ctx, edges)
	})
	if err != nil {
		t.Fatal(err)
	}
	odd := []string{"bad\xffutf8", "nul\x00inside", `quote"and\back`}
	for _, id := range odd {
		if _, err := s.DB().Exec(`INSERT INTO nodes (id, type) VALUES (?, 'doc')`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().Exec(`INSERT INTO edges (source, target, type) VALUES (?, 'n299', 't')`, id); err != nil {
			t.Fatal(err)
		}
	}
	gone := map[string]bool{}
	var ids []string
	for i := range 250 {
		ids = append(ids, nodes[i].ID)
		gone[nodes[i].ID] = true
	}
	for _, id := range odd {
		ids = append(ids, id)
		gone[id] = true
	}
	touching := len(odd)
	for _, e := range edges {
		if gone[e.Source] || gone[e.Target] {
			touching++
		}
	}
	nodesBefore, edgesBefore, histBefore := countRows(t, s.DB(), "nodes"), countRows(t, s.DB(), "edges"), historyRows(t, s)
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteNodes(ctx, ids...) }); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, s.DB(), "nodes"); got != nodesBefore-len(ids) {
		t.Errorf("%d nodes left, want %d", got, nodesBefore-len(ids))
	}
	if got := countRows(t, s.DB(), "edges"); got != edgesBefore-touching {
		t.Errorf("%d edges left, want %d", got, edgesBefore-touching)
	}
	if got := historyRows(t, s) - histBefore; got != len(ids)+touching {
		t.Errorf("%d history rows, want one per removal: %d", got, len(ids)+touching)
	}
	for _, id := range odd {
		if _, err := s.Reads().GetNode(ctx, id); !errors.Is(err, resonance.ErrNotFound) {
			t.Errorf("GetNode(%q) after delete: %v", id, err)
		}
	}
}

func TestTx_DeleteEdge(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	deleteGraph(t, s)
	del := func(source, target, typ string) error {
		return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteEdge(ctx, source, target, typ) })
	}
	if err := del("c", "hub", "cites"); err != nil {
		t.Fatal(err)
	}
	want := historyRow{"edge", "c|hub|cites", "delete", ptr(`{"source":"c","target":"hub","type":"cites","confidence":0.5,"veracity":1,"context_source":"x.md"}`), nil}
	if diff := cmp.Diff(want, lastHistory(t, s)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if err := del("hub", "a", ""); err != nil { // the default type
		t.Fatal(err)
	}
	in, err := s.Reads().OutgoingEdges(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]resonance.Edge{{Source: "c", Target: "a", Type: "cites", Confidence: 1, Veracity: 1}}, in); diff != "" {
		t.Errorf("c's edges after the delete (-want +got):\n%s", diff)
	}
	before, edges := historyRows(t, s), countRows(t, s.DB(), "edges")
	for _, k := range [][3]string{{"c", "hub", "cites"}, {"a", "b", "cites"}, {"b", "a", "related_to"}, {"x", "y", "z"}} {
		if err := del(k[0], k[1], k[2]); !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("%q -> %q", k[0], k[1])) {
			t.Errorf("DeleteEdge(%q): %v, want ErrNotFound naming the edge", k, err)
		}
	}
	if historyRows(t, s) != before || countRows(t, s.DB(), "edges") != edges {
		t.Errorf("failed edge deletes wrote something")
	}
}

// TestTx_Delete_AfterEnd: a delete on a dead Tx fails and deletes nothing.
func TestTx_Delete_AfterEnd(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	deleteGraph(t, s)
	var kept *resonance.Tx
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.DeleteNodes(ctx, "a"); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("DeleteNodes on an ended Tx: %v, want sql.ErrTxDone", err)
	}
	if err := kept.DeleteEdge(ctx, "a", "b", ""); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("DeleteEdge on an ended Tx: %v, want sql.ErrTxDone", err)
	}
	if n := countRows(t, s.DB(), "nodes"); n != 4 {
		t.Errorf("%d nodes, want 4", n)
	}
}
