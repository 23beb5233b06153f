package resonance_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The Store's one-write methods begin and commit on the writer's driver
// connection (single.go). They follow the rules of Store.Tx.

// Inside a write transaction of the same goroutine they are refused with
// ErrNestedTx instead of waiting for the writer forever, and the outer
// transaction still decides alone.
func TestWriteOne_RefusedInsideTx(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx := context.Background()
	writes := map[string]func() error{
		"UpsertNode":         func() error { return s.UpsertNode(ctx, resonance.Node{ID: "inner", Type: "doc"}) },
		"InsertEdge":         func() error { return s.InsertEdge(ctx, "outer", "inner", "") },
		"UpsertSemanticEdge": func() error { return s.UpsertSemanticEdge(ctx, resonance.Edge{Source: "outer", Target: "inner"}) },
	}
	for name, write := range writes {
		rollback := errors.New("roll back")
		err := s.Tx(ctx, func(tx *resonance.Tx) error {
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "outer", Type: "doc"}); err != nil {
				return err
			}
			if err := write(); !errors.Is(err, resonance.ErrNestedTx) {
				t.Errorf("%s inside Tx: %v, want ErrNestedTx", name, err)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("%s: Tx returned %v", name, err)
		}
		if n := countRows(t, s.DB(), "nodes"); n != 0 {
			t.Errorf("%s: %d nodes after the outer transaction rolled back, want 0", name, n)
		}
	}
	e, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := writes["UpsertNode"](); !errors.Is(err, resonance.ErrNestedTx) {
		t.Errorf("UpsertNode while this goroutine holds an ExplicitTx: %v, want ErrNestedTx", err)
	}
	if err := e.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// A cancelled context writes nothing, and the writer is usable afterwards:
// the transaction did not stay open on it.
func TestWriteOne_CancelledWritesNothing(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.UpsertNode(ctx, resonance.Node{ID: "n", Type: "doc"}); !errors.Is(err, context.Canceled) {
		t.Errorf("UpsertNode with a cancelled context: %v, want context.Canceled", err)
	}
	if n := countRows(t, s.DB(), "nodes") + countRows(t, s.DB(), "history"); n != 0 {
		t.Errorf("%d rows written by a cancelled write", n)
	}
	if err := s.UpsertNode(context.Background(), resonance.Node{ID: "n", Type: "doc"}); err != nil {
		t.Fatalf("the next write: %v", err)
	}
	if n := countRows(t, s.DB(), "history"); n != 1 {
		t.Errorf("%d history rows after one write, want 1", n)
	}
}

// A failing write rolls back the node with its history: an edge insert
// whose history row cannot be written (a trigger refuses it) leaves no
// edge, and the error names the edge.
func TestWriteOne_FailureRollsBack(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx := context.Background()
	if _, err := s.DB().Exec(`CREATE TRIGGER no_edge_history BEFORE INSERT ON history
		WHEN NEW.entity_type = 'edge' BEGIN SELECT RAISE(ABORT, 'history refused'); END`); err != nil {
		t.Fatal(err)
	}
	err := s.InsertEdge(ctx, "a", "b", "")
	if err == nil || !strings.Contains(err.Error(), "history refused") || !strings.Contains(err.Error(), "a") {
		t.Fatalf("InsertEdge with its history refused: %v", err)
	}
	if n := countRows(t, s.DB(), "edges"); n != 0 {
		t.Errorf("%d edges after the failed insert, want 0", n)
	}
	if err := s.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"}); err != nil {
		t.Fatalf("the next write: %v", err)
	}
}

// A one-write transaction open longer than half the busy timeout is logged
// and counted (W8), like a Tx.
func TestWriteOne_LongTransactionReported(t *testing.T) {
	var logs bytes.Buffer
	s := openStore(t, resonance.Options{BusyTimeout: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// 4 MiB of meta, validated and written twice (node and history): far
	// longer than half a millisecond.
	meta := append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	meta = append(meta, `"}`...)
	before := s.Metrics().LongTransactions
	if err := s.UpsertNode(context.Background(), resonance.Node{ID: "big", Type: "doc", Meta: meta}); err != nil {
		t.Fatal(err)
	}
	if got := s.Metrics().LongTransactions - before; got != 1 {
		t.Errorf("LongTransactions grew by %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "longer than half the busy timeout") {
		t.Errorf("no long-transaction log line in %q", logs.String())
	}
}
