package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/resonance"
)

// TestReadTx_WriteInReadDoesNotCompile type-checks two programs kept out of
// the build in testdata: a graph write inside Store.Read does not compile,
// because ReadTx has no writes, and the same write inside Store.Tx does (T5).
func TestReadTx_WriteInReadDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	vet := func(dir string) (string, error) {
		out, err := exec.Command(goBin, "vet", "./testdata/"+dir).CombinedOutput()
		return string(out), err
	}
	out, err := vet("writeinread")
	const want = "r.UpsertNode undefined (type *resonance.ReadTx has no field or method UpsertNode)"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("go vet of a graph write inside Read: err %v, output:\n%s\nwant the compile error %q", err, out, want)
	}
	if out, err := vet("writeintx"); err != nil {
		t.Errorf("go vet of the same write inside Tx: %v\n%s", err, out)
	}
}

// TestTx_HandleDeadAfterEnd keeps a *Tx, a *ReadTx and an ExplicitTx past
// their end: every call on them fails with sql.ErrTxDone and writes
// nothing, instead of running on its own outside any transaction (T5).
func TestTx_HandleDeadAfterEnd(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	var kept *resonance.Tx
	var keptRead *resonance.ReadTx
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error { keptRead = r; return nil }); err != nil {
		t.Fatal(err)
	}
	e, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("a second Commit = %v, want sql.ErrTxDone", err)
	}
	if err := e.Rollback(); err != nil {
		t.Errorf("Rollback after Commit = %v, want nil", err)
	}
	for name, tx := range map[string]*resonance.Tx{"Tx": kept, "ExplicitTx": e.Tx} {
		calls := map[string]error{
			"UpsertNode":         tx.UpsertNode(ctx, resonance.Node{ID: "late", Type: "doc"}),
			"InsertEdge":         tx.InsertEdge(ctx, "a", "b", ""),
			"UpsertSemanticEdge": tx.UpsertSemanticEdge(ctx, resonance.Edge{Source: "a", Target: "c"}),
			"UpdateNodeDate":     tx.UpdateNodeDate(ctx, "late", "2024"),
		}
		_, calls["ExecContext"] = tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('raw', 'doc')`)
		calls["Queries"] = db.New(tx).InsertHistory(ctx, dbHistory("late"))
		_, calls["GetNode"] = tx.GetNode(ctx, "late")
		for call, err := range calls {
			if !errors.Is(err, sql.ErrTxDone) {
				t.Errorf("%s.%s after the end = %v, want sql.ErrTxDone", name, call, err)
			}
		}
	}
	if _, err := keptRead.GetNodes(ctx, resonance.NodeFilter{}); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("ReadTx.GetNodes after the end = %v, want sql.ErrTxDone", err)
	}
	if _, err := keptRead.QueryContext(ctx, `SELECT 1`); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("ReadTx.QueryContext after the end = %v, want sql.ErrTxDone", err)
	}
	for _, table := range []string{"nodes", "edges", "history"} {
		if n := countRows(t, s.DB(), table); n != 0 {
			t.Errorf("%s has %d rows written after the end of their transaction", table, n)
		}
	}
}

// TestTx_GraphWritesAfterCancelWriteNothing cancels the context between two
// graph writes: the second fails with the context's error and nothing of
// the transaction is committed, the first write included (T1).
func TestTx_GraphWritesAfterCancelWriteNothing(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var second error
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "first", Type: "doc"}); err != nil {
			return err
		}
		cancel()
		second = tx.InsertEdge(ctx, "a", "b", "")
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
}

// TestStore_SettingsRestoredBeforeReuse changes settings inside a Read, on
// a pool of one reader so that the next Read gets the same connection:
// query_only = OFF must not let a later Read write, busy_timeout = 0 must
// not outlive the Read, and a transaction left open on the pool is not
// handed on (C7).
func TestStore_SettingsRestoredBeforeReuse(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{MaxReaders: 1})
	if err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		if _, err := r.ExecContext(ctx, "PRAGMA query_only = OFF"); err != nil {
			return err
		}
		_, err := r.ExecContext(ctx, "pragma busy_timeout = 0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		var busy int
		if err := r.QueryRowContext(ctx, "SELECT * FROM pragma_busy_timeout").Scan(&busy); err != nil {
			return err
		}
		if busy != 5000 {
			t.Errorf("busy_timeout in a later Read = %d, want 5000", busy)
		}
		_, err := r.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('sneaked', 'doc')`)
		if !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("INSERT in a later Read = %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "after-begin", Type: "doc"})
	}); err != nil {
		t.Fatalf("a write after a BEGIN left on the writer pool: %v", err)
	}
	if n := countRows(t, s.ReadDB(), "nodes"); n != 1 {
		t.Errorf("nodes visible to readers = %d, want 1 (the write committed, nothing sneaked in)", n)
	}
}

func dbHistory(id string) db.InsertHistoryParams {
	return db.InsertHistoryParams{EntityType: "node", EntityID: id, Action: "upsert"}
}

// TestStore_ReadsNestedPastThePoolEnd nests Reads deeper than the reader
// pool: the Read that finds every reader taken by the Reads around it ends
// with ErrBusy after the busy timeout, naming the fix, instead of waiting
// for itself forever.
func TestStore_ReadsNestedPastThePoolEnd(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{MaxReaders: 1, BusyTimeout: 200 * time.Millisecond})
	var inner error
	err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		inner = s.Read(ctx, func(context.Context, *resonance.ReadTx) error { return nil })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, resonance.ErrBusy) || !strings.Contains(inner.Error(), "MaxReaders") {
		t.Errorf("a Read inside a Read with one reader = %v, want ErrBusy naming MaxReaders", inner)
	}
}

// TestStore_WriterSettingsRestoredBeforeReuse changes, inside one Tx,
// settings of the writer that the connector leaves at SQLite's defaults:
// a later Tx still has CHECK constraints enforced and can write (C7).
func TestStore_WriterSettingsRestoredBeforeReuse(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	exec := func(stmt string) error {
		return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, stmt)
			return err
		})
	}
	if err := exec(`CREATE TABLE k (x INTEGER CHECK (x > 0))`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`PRAGMA ignore_check_constraints = ON`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO k VALUES (-1)`); err == nil || !strings.Contains(err.Error(), "CHECK") {
		t.Errorf("a row against a CHECK constraint after a Tx set ignore_check_constraints: err = %v, want the constraint", err)
	}
	if err := exec(`PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO k VALUES (1)`); err != nil {
		t.Errorf("a write after a Tx set query_only: %v, want it to succeed on a restored writer", err)
	}
}

// TestStore_NoCallWaitsForItself calls, inside a Tx, the Store's methods
// that need the writer, and inside a Read that holds the only reader, the
// reads of Store.Reads and Stats: with the transaction's context they are
// refused at once, and with another context they end with ErrBusy after
// the busy timeout instead of waiting for themselves (T2).
func TestStore_NoCallWaitsForItself(t *testing.T) {
	ctx := context.Background()
	const busy = 200 * time.Millisecond
	s := openStore(t, resonance.Options{BusyTimeout: busy, MaxReaders: 1})
	calls := map[string]func(context.Context) error{
		"Checkpoint": func(c context.Context) error { _, err := s.Checkpoint(c); return err },
		"Health":     func(c context.Context) error { _, err := s.Health(c); return err },
		"Vacuum":     s.Vacuum,
	}
	err := s.Tx(ctx, func(tctx context.Context, tx *resonance.Tx) error {
		for name, call := range calls {
			if err := call(tctx); !errors.Is(err, resonance.ErrNestedTx) {
				t.Errorf("%s with the Tx's context = %v, want ErrNestedTx", name, err)
			}
			start := time.Now()
			if err := call(context.Background()); !errors.Is(err, resonance.ErrBusy) || time.Since(start) > 20*busy {
				t.Errorf("%s with another context inside a Tx = %v after %v, want ErrBusy after the busy timeout", name, err, time.Since(start))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(context.Context) error{
		"GetNode":       func(c context.Context) error { _, err := s.Reads().GetNode(c, "a"); return err },
		"GetNodes":      func(c context.Context) error { _, err := s.Reads().GetNodes(c, resonance.NodeFilter{}); return err },
		"OutgoingEdges": func(c context.Context) error { _, err := s.Reads().OutgoingEdges(c, "a"); return err },
		"Stats":         func(c context.Context) error { _, err := s.Stats(c); return err },
	}
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		for name, read := range reads {
			if err := read(ctx); !errors.Is(err, resonance.ErrBusy) {
				t.Errorf("Store.%s inside a Read holding the only reader = %v, want ErrBusy", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stats(ctx); err != nil {
		t.Errorf("Stats with the reader free: %v", err)
	}
}

// TestStore_CloseEndsOpenTransactions: writes through an ExplicitTx begun
// before Close fail with ErrClosed afterwards, and its Commit commits
// nothing (O4).
func TestStore_CloseEndsOpenTransactions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.UpsertNode(ctx, resonance.Node{ID: "before-close", Type: "doc"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, resonance.ErrLeakedConnections) {
		t.Errorf("Close with an ExplicitTx open = %v, want ErrLeakedConnections", err)
	}
	if err := e.UpsertNode(ctx, resonance.Node{ID: "after-close", Type: "doc"}); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("a write after Close = %v, want ErrClosed", err)
	}
	if err := e.Commit(); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	s2 := openStoreAt(t, path, resonance.Options{})
	if n := countRows(t, s2.DB(), "nodes"); n != 0 {
		t.Errorf("%d nodes committed by a transaction that Close ended", n)
	}
}

// TestStore_NestedThroughARead: a Tx inside a Read inside a Tx, made with
// the contexts they were given, is still recognised as nested (T2).
func TestStore_NestedThroughARead(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{BusyTimeout: 200 * time.Millisecond})
	var inner error
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
			start := time.Now()
			inner = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: "inner", Type: "doc"})
			})
			if time.Since(start) > 100*time.Millisecond {
				t.Errorf("the nested write was refused after %v, want at once", time.Since(start))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, resonance.ErrNestedTx) {
		t.Errorf("a Store write inside a Read inside a Tx = %v, want ErrNestedTx", inner)
	}
}

// TestTx_EndClosesWhatFnLeftOpen leaves open, in a Tx and in a Read, the
// Rows of QueryContext and a Row never scanned: the transaction still commits what it wrote, returns, and the
// next transaction gets the connection (T5).
func TestTx_EndClosesWhatFnLeftOpen(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{MaxReaders: 1, BusyTimeout: 2 * time.Second})
	// within fails the test when run does not return in time: a
	// connection held by open Rows would make the end wait forever.
	within := func(what string, run func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- run() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return", what)
		}
	}
	for i := range 3 {
		within(fmt.Sprintf("Tx %d", i), func() error {
			return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				if err := tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("n%d", i), Type: "doc"}); err != nil {
					return err
				}
				if _, err := tx.QueryContext(ctx, "SELECT id FROM nodes"); err != nil {
					return err
				}
				_ = tx.QueryRowContext(ctx, "SELECT id FROM nodes")
				_, err := db.New(tx).CountNodes(ctx)
				return err
			})
		})
		within(fmt.Sprintf("Read %d", i), func() error {
			return s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
				_ = r.QueryRowContext(ctx, "SELECT 1")
				_, err := r.QueryContext(ctx, "SELECT 1")
				return err
			})
		})
	}
	if n := countRows(t, s.DB(), "nodes"); n != 3 {
		t.Errorf("%d nodes committed, want 3", n)
	}
}

// TestTx_EndClosesPreparedRows: the Rows of a statement fn prepared and
// left open are closed by the end of the transaction, so the writer is
// free for the next write at once (T5).
func TestTx_EndClosesPreparedRows(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{BusyTimeout: 300 * time.Millisecond})
	var rows *sql.Rows
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"}); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, "SELECT id FROM nodes")
		if err != nil {
			return err
		}
		rows, err = st.QueryContext(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc"})
	}); err != nil {
		t.Errorf("a write after the Tx left prepared Rows open = %v, want nil", err)
	}
	if rows.Next() {
		t.Error("the Rows fn left open still return rows after the end")
	}
	if n := countRows(t, s.DB(), "nodes"); n != 2 {
		t.Errorf("%d nodes, want 2", n)
	}
}

// TestTx_FailedCommitIsOneError: when COMMIT fails in a way after which
// SQLite has rolled the transaction back itself (here an application's
// commit hook refuses it), Tx returns the commit's error alone, not a
// failed ROLLBACK beside it, and nothing was written.
func TestTx_FailedCommitIsOneError(t *testing.T) {
	var refuse atomic.Bool
	s := openStore(t, resonance.Options{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterCommitHook(func() int {
			if refuse.Load() {
				return 1
			}
			return 0
		})
		return nil
	}})
	ctx := context.Background()
	refuse.Store(true)
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "n1", Type: "doc"})
	})
	refuse.Store(false)
	if err == nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("Tx with a refused commit = %v, want the commit's error", err)
	}
	if strings.Contains(err.Error(), "resonance: rollback") {
		t.Errorf("Tx with a refused commit = %q: it also reports a rollback of a transaction SQLite had ended", err)
	}
	if n := countRows(t, s.DB(), "nodes"); n != 0 {
		t.Errorf("nodes = %d after a refused commit, want 0", n)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "n2", Type: "doc"})
	}); err != nil {
		t.Fatalf("the next Tx: %v", err)
	}
}
