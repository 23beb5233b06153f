package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/resonance"
)

// Open creates the database when asked to, applies the migrations and
// hardens every connection; Health reads the settings back.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "resonance-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := resonance.Open(ctx, filepath.Join(dir, "graph.db"), resonance.Options{Create: true})
	if err != nil {
		log.Fatal(err) // the error names the file and the fix
	}
	defer store.Close()

	h, err := store.Health(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(h.Problems), "problems:", h.Settings["journal_mode"], h.Settings["busy_timeout"], "ms")

	// Closing reports leaked connections; check its error.
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}
	// Output: 0 problems: wal 5000 ms
}

// Tx runs a function in one IMMEDIATE write transaction: both nodes, the
// edge and their history rows commit together, or nothing does.
func ExampleStore_Tx() {
	dir, err := os.MkdirTemp("", "resonance-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := resonance.Open(ctx, filepath.Join(dir, "graph.db"), resonance.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	err = store.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{
			ID:        resonance.GenerateID("./docs/Write-Ahead Log.md"),
			Type:      "note",
			Title:     "Write-ahead log",
			Embedding: resonance.Normalize([]float32{3, 4}),
			Meta:      json.RawMessage(`{"tags":["wal"]}`),
		}); err != nil {
			return err // rolls back
		}
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "lexicon-checkpoint", Type: "concept", Domain: "lexicon", Title: "Checkpoint"}); err != nil {
			return err
		}
		return tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "docs-write-ahead-log", Target: "lexicon-checkpoint", Type: "mentions", Confidence: 0.9, Veracity: 1})
	})
	if err != nil {
		log.Fatal(err)
	}

	n, err := store.Reads().GetNode(ctx, "docs-write-ahead-log")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.ID, n.Domain, n.Layer, n.Embedding, string(n.Meta))
	out, err := store.Reads().OutgoingEdges(ctx, n.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range out {
		fmt.Println(e.Source, "-", e.Type, "->", e.Target, e.Confidence, e.Veracity)
	}
	// Output:
	// docs-write-ahead-log knowledge experience [0.6 0.8] {"tags":["wal"]}
	// docs-write-ahead-log - mentions -> lexicon-checkpoint 0.9 1
}

// Read runs a function on one consistent snapshot, on a query_only
// connection: many Reads run at once beside the writer. A ReadTx has no
// graph writes, and SQL that writes fails with ErrReadOnly.
func ExampleStore_Read() {
	dir, err := os.MkdirTemp("", "resonance-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := resonance.Open(ctx, filepath.Join(dir, "graph.db"), resonance.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	for _, id := range []string{"b", "a", "c"} {
		if err := store.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "note", Domain: "lexicon", Title: "node " + id})
		}); err != nil {
			log.Fatal(err)
		}
	}

	err = store.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		nodes, err := r.GetNodes(ctx, resonance.NodeFilter{Domain: "lexicon", Limit: 2, SkipEmbedding: true})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			fmt.Println(n.ID, n.Title)
		}
		total, err := db.New(r).CountNodes(ctx) // the generated queries, on the same snapshot
		if err != nil {
			return err
		}
		fmt.Println("nodes:", total)

		_, err = r.ExecContext(ctx, `DELETE FROM nodes`)
		fmt.Println("write refused:", errors.Is(err, resonance.ErrReadOnly))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// b node b
	// a node a
	// nodes: 3
	// write refused: true
}

// Reads reads without a transaction, one statement at a time: here
// Neighbourhood walks the edges from a node in one statement, DeleteNodes
// takes a node with every edge touching it, and History reads what changed.
func ExampleStore_Reads() {
	dir, err := os.MkdirTemp("", "resonance-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := resonance.Open(ctx, filepath.Join(dir, "graph.db"), resonance.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	err = store.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNodes(ctx, []resonance.Node{{ID: "wal", Type: "concept"}, {ID: "checkpoint", Type: "concept"}, {ID: "notes", Type: "note"}}); err != nil {
			return err
		}
		return tx.InsertEdges(ctx, []resonance.Edge{{Source: "checkpoint", Target: "wal", Type: "part_of"}, {Source: "notes", Target: "checkpoint", Type: "mentions"}})
	})
	if err != nil {
		log.Fatal(err)
	}

	nb, err := store.Reads().Neighbourhood(ctx, "wal", resonance.NeighbourhoodOptions{Depth: 2, Direction: "in"})
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nb.Nodes {
		fmt.Println(n.Distance, n.ID)
	}
	fmt.Println(len(nb.Edges), "edges, truncated:", nb.Truncated)

	err = store.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteNodes(ctx, "checkpoint") })
	if err != nil {
		log.Fatal(err)
	}
	changes, err := store.Reads().History(ctx, resonance.HistoryFilter{Limit: 3})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Println(c.Action, c.Entity, c.EntityID)
	}
	// Output:
	// 0 wal
	// 1 checkpoint
	// 2 notes
	// 2 edges, truncated: false
	// delete node checkpoint
	// delete edge notes|checkpoint|mentions
	// delete edge checkpoint|wal|part_of
}
