package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The graph writes of a Tx run on its driver connection (rawtx.go). These
// tests hold them to the rules of the transaction they belong to.

// TestTx_GraphWritesAfterCancelWriteNothing cancels the context between two
// graph writes: the second fails with the context's error and nothing of the
// transaction is committed, the first write included (T1).
func TestTx_GraphWritesAfterCancelWriteNothing(t *testing.T) {
	s := openStore(t, resonance.Options{})
	for _, write := range []struct {
		name string
		run  func(ctx context.Context, tx *resonance.Tx) error
	}{
		{"UpsertNode", func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: "second", Type: "doc"})
		}},
		{"InsertEdge", func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, "a", "b", "") }},
		{"UpsertSemanticEdge", func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "c"})
		}},
	} {
		t.Run(write.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var second error
			err := s.Tx(ctx, func(tx *resonance.Tx) error {
				if err := tx.UpsertNode(ctx, resonance.Node{ID: "first", Type: "doc"}); err != nil {
					return err
				}
				cancel()
				second = write.run(ctx, tx)
				return nil
			})
			if !errors.Is(second, context.Canceled) {
				t.Errorf("write after cancel = %v, want context.Canceled", second)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Tx = %v, want context.Canceled", err)
			}
			for _, table := range []string{"nodes", "edges", "history"} {
				if n := countRows(t, s.DB(), table); n != 0 {
					t.Errorf("%s has %d rows after a cancelled Tx", table, n)
				}
			}
		})
	}
}

// TestTx_GraphWritesAfterEndFail keeps the *Tx past the end of its function:
// a write through it fails with sql.ErrTxDone and writes nothing, instead of
// running on its own outside any transaction.
func TestTx_GraphWritesAfterEndFail(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var kept *resonance.Tx
	if err := s.Tx(ctx, func(tx *resonance.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.UpsertNode(ctx, resonance.Node{ID: "late", Type: "doc"}); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("UpsertNode after the Tx ended = %v, want sql.ErrTxDone", err)
	}
	if err := kept.InsertEdge(ctx, "a", "b", ""); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("InsertEdge after the Tx ended = %v, want sql.ErrTxDone", err)
	}
	e, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := e.UpsertNode(ctx, resonance.Node{ID: "late", Type: "doc"}); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("UpsertNode after Commit = %v, want sql.ErrTxDone", err)
	}
	for _, table := range []string{"nodes", "edges", "history"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("%s has %d rows written after the end of their transaction", table, n)
		}
	}
}

// TestTx_GraphWritesFromGoroutines shares one Tx between goroutines: every
// write lands with its own history row (run with -race: the scratch space
// of the writes is shared).
func TestTx_GraphWritesFromGoroutines(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	const workers, each = 4, 50
	emb := graphEmbedding(384, 5)
	err := s.Tx(ctx, func(tx *resonance.Tx) error {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					id := fmt.Sprintf("w%d-%d", w, i)
					if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Title: id, Embedding: emb}); err != nil {
						errs <- err
						return
					}
					if err := tx.InsertEdge(ctx, id, "hub", ""); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s.DB(), "nodes"); n != workers*each {
		t.Errorf("nodes = %d, want %d", n, workers*each)
	}
	if n := historyRows(t, s); n != 2*workers*each {
		t.Errorf("history rows = %d, want %d", n, 2*workers*each)
	}
	for w := range workers {
		for i := range each {
			id := fmt.Sprintf("w%d-%d", w, i)
			n, err := s.GetNode(ctx, id)
			if err != nil || n.Title != id || len(n.Embedding) != len(emb) {
				t.Fatalf("GetNode(%q) = title %q, %d floats, %v", id, n.Title, len(n.Embedding), err)
			}
		}
	}
}

// TestRead_GraphWritesRefused tries every graph write in a Read
// transaction: each fails with ErrReadOnly naming the write.
func TestRead_GraphWritesRefused(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	for name, write := range map[string]func(tx *resonance.Tx) error{
		`upsert node "a"`:        func(tx *resonance.Tx) error { return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"}) },
		`insert edge "a" -> "b"`: func(tx *resonance.Tx) error { return tx.InsertEdge(ctx, "a", "b", "") },
		`upsert edge "a" -> "c"`: func(tx *resonance.Tx) error {
			return tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "c"})
		},
	} {
		err := s.Read(ctx, write)
		if !errors.Is(err, resonance.ErrReadOnly) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s in Read = %v, want ErrReadOnly naming it", name, err)
		}
	}
	for _, table := range []string{"nodes", "edges", "history"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("%s has %d rows written in Read transactions", table, n)
		}
	}
}
