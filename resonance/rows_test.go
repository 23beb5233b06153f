package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// dumpRows returns every row of query as text, for comparing two stores.
func dumpRows(t *testing.T, db *sql.DB, query string) [][]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = fmt.Sprintf("%v:%q", v.Valid, v.String)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTx_BatchWritesEqualSingleWrites writes the same nodes and edges
// through UpsertNodes and InsertEdges, and one by one through UpsertNode and
// InsertEdge: the two stores must hold the same rows, history included, in
// the same order. The input crosses several statement chunks, repeats ids
// within a chunk and across chunks, and meets edges that existed before.
func TestTx_BatchWritesEqualSingleWrites(t *testing.T) {
	ctx := context.Background()
	var nodes []resonance.Node
	for i := range 77 {
		nodes = append(nodes, resonance.Node{ID: fmt.Sprintf("n%02d", i%70), Type: "doc", Title: fmt.Sprintf("version %d", i),
			Embedding: graphEmbedding(8, uint64(i)), Meta: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	var edges []resonance.Edge
	for i := range 100 {
		edges = append(edges, resonance.Edge{Source: fmt.Sprintf("n%02d", i%40), Target: fmt.Sprintf("n%02d", (i*7)%13), Type: []string{"", "cites"}[i%2]})
	}
	edges[11] = edges[10]                      // repeated within a chunk
	edges = append(edges, edges[5], edges[70]) // and across chunks
	existing := []resonance.Edge{edges[3], edges[50], edges[99]}

	write := func(batch bool) *resonance.Store {
		s := openStore(t, resonance.Options{})
		for _, e := range existing {
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.InsertEdge(ctx, e.Source, e.Target, e.Type)
			}); err != nil {
				t.Fatal(err)
			}
		}
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if batch {
				if err := tx.UpsertNodes(ctx, nodes); err != nil {
					return err
				}
				return tx.InsertEdges(ctx, edges)
			}
			for _, n := range nodes {
				if err := tx.UpsertNode(ctx, n); err != nil {
					return err
				}
			}
			for _, e := range edges {
				if err := tx.InsertEdge(ctx, e.Source, e.Target, e.Type); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	one, many := write(false), write(true)
	for _, q := range []string{
		"SELECT id, type, title, domain, layer, hex(embedding), hash, summary, meta, date FROM nodes ORDER BY rowid",
		"SELECT source, target, type, confidence, veracity, context_source FROM edges ORDER BY source, target, type",
		"SELECT id, entity_type, entity_id, action, old_value, new_value FROM history ORDER BY id",
	} {
		want, got := dumpRows(t, one.DB(), q), dumpRows(t, many.DB(), q)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: batch writes differ from single writes (-single +batch):\n%s", q, diff)
		}
	}
	var ignored int
	if err := many.DB().QueryRow(`SELECT count(*) FROM history WHERE action = 'insert_ignored'`).Scan(&ignored); err != nil {
		t.Fatal(err)
	}
	// The repeats, plus the 3 that existed.
	distinct := map[resonance.Edge]bool{}
	for _, e := range edges {
		if e.Type == "" {
			e.Type = "related_to"
		}
		distinct[e] = true
	}
	if want := len(edges) - len(distinct) + len(existing); ignored != want {
		t.Errorf("%d edges recorded as insert_ignored, want %d", ignored, want)
	}
}

// TestTx_BatchWritesRefuseBadInputWhole: one bad element anywhere refuses
// the whole call before any SQL runs, naming the element and its index.
func TestTx_BatchWritesRefuseBadInputWhole(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var nodes []resonance.Node
	for i := range 40 {
		nodes = append(nodes, resonance.Node{ID: fmt.Sprintf("n%d", i), Type: "doc"})
	}
	nodes[37].Meta = []byte(`[1]`)
	edges := []resonance.Edge{{Source: "a", Target: "b"}, {Source: "a", Target: "c", Confidence: 0.5}}
	cases := []struct {
		name  string
		write func(ctx context.Context, tx *resonance.Tx) error
		want  string
	}{
		{"nodes", func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNodes(ctx, nodes) }, `"n37"`},
		{"edges", func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdges(ctx, edges) }, `(edges[1])`},
		{"blank edge", func(ctx context.Context, tx *resonance.Tx) error {
			return tx.InsertEdges(ctx, []resonance.Edge{{Source: "a", Target: "b"}, {Source: "a", Target: "b"}, {Source: " ", Target: "b"}})
		}, `(edges[2])`},
	}
	for _, c := range cases {
		var callErr error
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			callErr = c.write(ctx, tx)
			// Commit whatever the call wrote: it must be nothing.
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(callErr, resonance.ErrInvalid) || !strings.Contains(callErr.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrInvalid naming %s", c.name, callErr, c.want)
		}
		if n := historyRows(t, s); n != 0 {
			t.Errorf("%s: the refused call wrote %d history rows", c.name, n)
		}
	}
	if !strings.Contains(fmt.Sprint(s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNodes(ctx, nodes) })), "(nodes[37])") {
		t.Error("the error does not name the index of the bad node")
	}
	for _, table := range []string{"nodes", "edges"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("refused calls wrote %d rows to %s", n, table)
		}
	}
	// Empty batches are no-ops.
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return errors.Join(tx.UpsertNodes(ctx, nil), tx.InsertEdges(ctx, nil))
	})
	if err != nil {
		t.Errorf("empty batches: %v", err)
	}
}

// TestTx_MixedWritesInOneTx interleaves, in one Tx, InsertEdges over
// batches half of which exist, node upserts and raw inserts: no write is
// lost, and every history action is right (D2).
func TestTx_MixedWritesInOneTx(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	existing := make([]resonance.Edge, 8)
	for i := range existing {
		existing[i] = resonance.Edge{Source: "old", Target: fmt.Sprintf("t%d", i)}
	}
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.InsertEdges(ctx, existing)
	})
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 200
	err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for i := range rounds {
			// Half new, half existing: the count comes up short.
			batch := append([]resonance.Edge{{Source: "new", Target: fmt.Sprintf("t%d", i)}}, existing[i%8])
			if err := tx.InsertEdges(ctx, batch); err != nil {
				return err
			}
			for w := range 2 {
				if err := tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("w%d-%d", w, i), Type: "doc"}); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO ember_state (file_path) VALUES (?)`, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, q := range []struct{ name, sql string }{
		{"nodes", "SELECT count(*) FROM nodes"},
		{"node history", "SELECT count(*) FROM history WHERE entity_type = 'node'"},
		{"ember_state", "SELECT count(*) FROM ember_state"},
		{"new edges", "SELECT count(*) FROM edges WHERE source = 'new'"},
		{"inserted", "SELECT count(*) FROM history WHERE entity_id LIKE 'new|%' AND action = 'insert'"},
		{"ignored", "SELECT count(*) FROM history WHERE entity_id LIKE 'old|%' AND action = 'insert_ignored'"},
	} {
		var n int
		if err := s.DB().QueryRow(q.sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[q.name] = n
	}
	want := map[string]int{"nodes": 2 * rounds, "node history": 2 * rounds, "ember_state": 2 * rounds,
		"new edges": rounds, "inserted": rounds, "ignored": rounds}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("rows after mixed writes in one Tx (-want +got):\n%s", diff)
	}
}
