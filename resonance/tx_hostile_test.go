package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestTx_QueryWritesBesideInsertEdgesLand: writes made through
// QueryRowContext (INSERT … RETURNING) between InsertEdges calls on the
// same Tx, over edges half of which exist, all land. (InsertEdges once
// undid its statement to a savepoint when some edges existed; it also
// failed with ErrBusy when it could not open the savepoint.)
func TestTx_QueryWritesBesideInsertEdgesLand(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	existing := make([]resonance.Edge, 8)
	for i := range existing {
		existing[i] = resonance.Edge{Source: "old", Target: fmt.Sprintf("t%d", i)}
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdges(ctx, existing) }); err != nil {
		t.Fatal(err)
	}
	const rounds = 2000
	var ok, busy int
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for i := range rounds {
			batch := append([]resonance.Edge{{Source: "new", Target: fmt.Sprintf("t%d", i)}}, existing[i%8])
			if err := tx.InsertEdges(ctx, batch); errors.Is(err, resonance.ErrBusy) {
				busy++
			} else if err != nil {
				return err
			}
			var got string
			err := tx.QueryRowContext(ctx, `INSERT INTO ember_state (file_path) VALUES (?) RETURNING file_path`, fmt.Sprintf("q%d", i)).Scan(&got)
			if err != nil {
				return err
			}
			ok++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if busy > 0 {
		t.Errorf("InsertEdges failed with ErrBusy %d times of %d", busy, rounds)
	}
	if n := countRows(t, s.DB(), "ember_state"); n != ok {
		t.Errorf("%d INSERT … RETURNING through tx.QueryRowContext succeeded, %d rows committed: %d lost", ok, n, ok-n)
	}
}

// TestTx_NothingCommitsAfterSQLiteEndedTheTransaction: SQLite rolls the
// whole transaction back by itself after some errors (RAISE(ROLLBACK), an
// interrupted write, SQLITE_FULL, SQLITE_IOERR), and fn may run COMMIT
// through ExecContext: the connection is then in autocommit mode, and a
// later write through the handle must not commit on its own while
// Store.Tx returns an error (T1: the function cannot commit by itself).
func TestTx_NothingCommitsAfterSQLiteEndedTheTransaction(t *testing.T) {
	ctx := context.Background()
	t.Run("raise-rollback", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TEMP TRIGGER boom BEFORE INSERT ON main.nodes WHEN NEW.id = 'bad'
				BEGIN SELECT RAISE(ROLLBACK, 'bad node'); END`); err != nil {
				return err
			}
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "first", Type: "doc"}); err != nil {
				return err
			}
			// An import that skips the nodes it cannot write.
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "bad", Type: "doc"}); err == nil {
				return errors.New("trigger did not fire")
			}
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "after", Type: "doc"}); err != nil {
				return fmt.Errorf("write after the failure: %w", err)
			}
			return errors.New("the caller rolls back")
		})
		if err == nil {
			t.Fatal("Tx returned nil")
		}
		if n := countRows(t, s.DB(), "nodes"); n != 0 {
			t.Errorf("Tx returned %v, yet %d node(s) and %d history rows were committed", err, n, historyRows(t, s))
		}
	})
	t.Run("interrupted-write", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "first", Type: "doc"}); err != nil {
				return err
			}
			// A best-effort step with a timeout of its own.
			octx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err := tx.ExecContext(octx, `INSERT INTO ember_state (file_path)
				WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 20000000) SELECT 'f' || x FROM c`)
			cancel()
			t.Logf("best-effort step: %v", err)
			return tx.UpsertNode(ctx, resonance.Node{ID: "after", Type: "doc"})
		})
		nodes := countRows(t, s.DB(), "nodes")
		t.Logf("Tx = %v; nodes committed: %d", err, nodes)
		if err != nil && nodes != 0 {
			t.Errorf("Tx returned %v, yet %d node(s) were committed", err, nodes)
		}
		if err == nil && nodes != 2 {
			t.Errorf("Tx committed, yet %d of 2 nodes are there", nodes)
		}
	})
	t.Run("user-commit", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := tx.UpsertNode(ctx, resonance.Node{ID: "first", Type: "doc"}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `COMMIT`); err != nil {
				t.Logf("COMMIT refused: %v", err)
			}
			return errors.New("the caller rolls back")
		})
		if n := countRows(t, s.DB(), "nodes"); n != 0 {
			t.Errorf("Tx returned %v, yet %d node(s) were committed by fn's own COMMIT", err, n)
		}
	})
}

// TestTx_DeadHandleWithDoneContext: a call on a dead handle fails with
// sql.ErrTxDone also when its context is done (T5).
func TestTx_DeadHandleWithDoneContext(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var kept *resonance.Tx
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := kept.UpsertNode(cctx, resonance.Node{ID: "late", Type: "doc"}); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("UpsertNode on a dead handle with a done ctx = %v, want sql.ErrTxDone", err)
	}
	var x int
	if err := kept.QueryRowContext(cctx, `SELECT 1`).Scan(&x); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("QueryRowContext on a dead handle with a done ctx: Scan = %v, want sql.ErrTxDone", err)
	}
}

// TestTx_BatchWritesWhileAStatementRuns: UpsertNodes and InsertEdges work
// while the caller iterates the Rows of an INSERT … RETURNING made on the
// same Tx (SQLite refuses a SAVEPOINT there, which InsertEdges once took).
func TestTx_BatchWritesWhileAStatementRuns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		rows, err := tx.QueryContext(ctx, `INSERT INTO ember_state (file_path) VALUES ('a'), ('b') RETURNING file_path`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			if err := tx.UpsertNodes(ctx, []resonance.Node{{ID: p, Type: "file"}, {ID: p + "/x", Type: "file"}}); err != nil {
				return err
			}
			if err := tx.InsertEdges(ctx, []resonance.Edge{{Source: p, Target: p + "/x"}, {Source: p + "/x", Target: p}}); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
