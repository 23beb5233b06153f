package resonance_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The history rows of the graph writes of a Tx are queued and written
// several at a time (historyqueue.go). These tests hold the queue to the
// rules of a history row written with its write.

// historyLog returns entity_id and action of every history row, in id order.
func historyLog(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), `SELECT entity_id, action FROM history ORDER BY id`)
	if err != nil {
		t.Fatalf("reading history: %v", err)
	}
	defer rows.Close()
	var log []string
	for rows.Next() {
		var id, action string
		if err := rows.Scan(&id, &action); err != nil {
			t.Fatal(err)
		}
		log = append(log, id+" "+action)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return log
}

// TestTx_HistoryInWriteOrder interleaves every kind of write, more of them
// than one statement of queued rows holds and not a power of two: the
// history has one row per write, in the order of the writes, inside the
// transaction (before and after reads through it) and once committed.
func TestTx_HistoryInWriteOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var want []string
	err := s.Tx(ctx, func(tx *resonance.Tx) error {
		for i := range 75 {
			id := fmt.Sprintf("n%02d", i)
			if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Embedding: []float32{float32(i)}}); err != nil {
				return err
			}
			want = append(want, id+" upsert")
			switch i % 5 {
			case 1:
				if err := tx.InsertEdge(ctx, id, "n00", ""); err != nil {
					return err
				}
				want = append(want, id+"|n00|related_to insert")
			case 2:
				if err := tx.InsertEdge(ctx, "n01", "n00", ""); err != nil {
					return err
				}
				want = append(want, "n01|n00|related_to insert_ignored")
			case 3:
				if err := tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: id, Target: "n01", Type: "cites"}); err != nil {
					return err
				}
				want = append(want, id+"|n01|cites upsert")
			case 4:
				if err := tx.UpdateNodeMeta(ctx, id, json.RawMessage(`{"i":1}`)); err != nil {
					return err
				}
				want = append(want, id+" update_meta")
			}
			if i == 40 {
				// A read through the Tx sees every write before it.
				if diff := cmp.Diff(want, historyLog(t, tx)); diff != "" {
					t.Errorf("history inside the transaction (-want +got):\n%s", diff)
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM history`).Scan(&n); err != nil || n != len(want) {
					t.Errorf("QueryRowContext sees %d history rows (%v), want %d", n, err, len(want))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, historyLog(t, s.DB())); diff != "" {
		t.Errorf("history after the commit (-want +got):\n%s", diff)
	}
}

// TestTx_HistoryAndExplicitCommit commits an ExplicitTx with queued
// history rows: they are committed with it; and a rolled back one leaves
// none.
func TestTx_HistoryAndExplicitCommit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	for _, commit := range []bool{true, false} {
		e, err := s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := e.InsertEdge(ctx, "a", fmt.Sprintf("%v%d", commit, i), ""); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = e.Commit()
		} else {
			err = e.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a|true0|related_to insert", "a|true1|related_to insert", "a|true2|related_to insert"}
	if diff := cmp.Diff(want, historyLog(t, s.DB())); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestTx_HistoryAndPreparedStatement prepares a statement on the Tx and
// runs it after later writes: it sees their history rows.
func TestTx_HistoryAndPreparedStatement(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	err := s.Tx(ctx, func(tx *resonance.Tx) error {
		st, err := tx.PrepareContext(ctx, `SELECT count(*) FROM history`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range 3 {
			if err := tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprint(i), Type: "doc"}); err != nil {
				return err
			}
			var n int
			if err := st.QueryRowContext(ctx).Scan(&n); err != nil {
				return err
			}
			if n != i+1 {
				t.Errorf("prepared statement sees %d history rows after %d writes", n, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTx_HistoryWriteFailureRollsBack makes the write of queued history
// rows fail (a trigger refuses one of them): the error reaches the caller
// at the next statement, every later write and statement of the Tx fails
// with it, and the transaction cannot commit even when fn ignores them.
func TestTx_HistoryWriteFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var atStatement, atWrite error
	err := s.Tx(ctx, func(tx *resonance.Tx) error {
		// A TEMP trigger lives on this connection and goes with the rollback.
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.history
			WHEN NEW.entity_id = 'refused' BEGIN SELECT RAISE(ABORT, 'history refused'); END`); err != nil {
			return err
		}
		for _, id := range []string{"before", "refused", "after"} {
			if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc"}); err != nil {
				return fmt.Errorf("UpsertNode(%q) failed at once: %w", id, err)
			}
		}
		_, atStatement = tx.ExecContext(ctx, `SELECT 1`)
		atWrite = tx.UpsertNode(ctx, resonance.Node{ID: "later", Type: "doc"})
		return nil // ignores both
	})
	if atStatement == nil || !strings.Contains(atStatement.Error(), "history refused") {
		t.Errorf("statement after the failed history write = %v, want the failure", atStatement)
	}
	if !errors.Is(atWrite, atStatement) && (atWrite == nil || atWrite.Error() != atStatement.Error()) {
		t.Errorf("write after the failed history write = %v, want %v", atWrite, atStatement)
	}
	if err == nil || !strings.Contains(err.Error(), "history refused") {
		t.Errorf("Tx = %v, want the history failure", err)
	}
	for _, table := range []string{"nodes", "history"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("%s has %d rows after a Tx whose history could not be written", table, n)
		}
	}
	// The connection is usable afterwards, without the trigger.
	if err := s.UpsertNode(ctx, resonance.Node{ID: "refused", Type: "doc"}); err != nil {
		t.Errorf("UpsertNode after the rollback: %v", err)
	}
}
