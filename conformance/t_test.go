package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

var errBoom = errors.New("boom")

func insertNode(ctx context.Context, id string) func(context.Context, *resonance.Tx) error {
	return func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'doc')`, id)
		return err
	}
}

// committed reports whether node id is visible to a connection outside the
// store: a plain connection reads the last committed state.
func committed(t *testing.T, path, id string) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	return count(t, db, `SELECT count(*) FROM nodes WHERE id = ?`, id) == 1
}

// writeLockTaken reports whether another connection finds the write lock
// taken: its BEGIN IMMEDIATE without busy timeout fails with SQLITE_BUSY.
func writeLockTaken(t *testing.T, path string) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, "_busy_timeout=0"))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`BEGIN IMMEDIATE`)
	if err == nil {
		db.Exec(`ROLLBACK`)
		return false
	}
	if !isBusy(err) {
		t.Fatalf("%s: BEGIN IMMEDIATE on a second connection: %v", rule(t), err)
	}
	return true
}

// TestT1_TxCommitsOrRollsBack checks Store.Tx: it begins IMMEDIATE (the
// write lock is taken before fn runs a statement), commits on nil, rolls
// back on an error, on a panic (which continues) and on a cancelled
// context, and its error says when the rollback itself failed.
func TestT1_TxCommitsOrRollsBack(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})

	t.Run("BeginsImmediate", func(t *testing.T) {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if !writeLockTaken(t, path) {
				t.Errorf("T1/W4: inside Store.Tx, before any statement, another connection could take the write lock: the transaction did not begin IMMEDIATE")
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		if writeLockTaken(t, path) {
			t.Errorf("T1: the write lock is still taken after Tx returned")
		}
	})
	t.Run("CommitsOnNil", func(t *testing.T) {
		if err := s.Tx(ctx, insertNode(ctx, "t1-commit")); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		if !committed(t, path, "t1-commit") {
			t.Error("T1: a Tx whose fn returned nil is not committed")
		}
	})
	t.Run("RollsBackOnError", func(t *testing.T) {
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insertNode(ctx, "t1-error")(ctx, tx); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("T1: Tx err = %v, want fn's error", err)
		}
		if strings.Contains(err.Error(), "rollback") {
			t.Errorf("T1: the error %q mentions a rollback failure although the rollback succeeded", err)
		}
		if committed(t, path, "t1-error") {
			t.Error("T1: the work of a Tx whose fn failed was committed")
		}
	})
	t.Run("RollsBackOnPanic", func(t *testing.T) {
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Errorf("T1: recovered %v, want the original panic to continue", p)
				}
			}()
			s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				insertNode(ctx, "t1-panic")(ctx, tx)
				panic("kaboom")
			})
		}()
		if committed(t, path, "t1-panic") {
			t.Error("T1: the work of a panicking Tx was committed")
		}
		if writeLockTaken(t, path) {
			t.Error("T1: the write lock is still held after the panic")
		}
		if err := s.Tx(ctx, insertNode(ctx, "t1-after-panic")); err != nil {
			t.Errorf("T1: Tx after a panic: %v", err)
		}
	})
	t.Run("RollsBackOnCancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := s.Tx(cctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insertNode(cctx, "t1-cancel")(cctx, tx); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("T1: Tx whose context was cancelled: err = %v, want context.Canceled", err)
		}
		if committed(t, path, "t1-cancel") {
			t.Error("T1: the work of a cancelled Tx was committed")
		}
		dctx, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel2()
		err = s.Tx(dctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insertNode(dctx, "t1-deadline")(dctx, tx); err != nil {
				return err
			}
			<-dctx.Done()
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) || committed(t, path, "t1-deadline") {
			t.Errorf("T1: Tx past its deadline: err = %v, committed %v; want DeadlineExceeded and nothing committed", err, committed(t, path, "t1-deadline"))
		}
	})
	t.Run("ReportsFailedRollback", func(t *testing.T) {
		// fn ends the transaction behind Tx's back, so Tx's own rollback fails.
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "rollback") {
			t.Errorf("T1: when the rollback itself fails, err = %v; want fn's error joined with the rollback failure", err)
		}
		if err := s.Tx(ctx, insertNode(ctx, "t1-after-failed-rollback")); err != nil {
			t.Errorf("T1: Tx after a failed rollback: %v", err)
		}
	})
}

// TestT2_NestedTxRefused calls Tx and Begin inside a Tx on the same store:
// both are refused with ErrNestedTx, and the outer work is not committed by
// them.
func TestT2_NestedTxRefused(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	var inner, begin error
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := insertNode(ctx, "outer")(ctx, tx); err != nil {
			return err
		}
		inner = s.Tx(ctx, insertNode(ctx, "inner"))
		_, begin = s.Begin(ctx)
		if committed(t, path, "outer") {
			t.Error("T2: the nested call committed the outer transaction's work")
		}
		var seen int
		if err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
			return r.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE id = 'outer'`).Scan(&seen)
		}); err != nil || seen != 0 {
			t.Errorf("T2: a Read inside Tx: err %v, sees the uncommitted outer row %d times; want the last committed snapshot", err, seen)
		}
		return errBoom
	})
	if !errors.Is(inner, resonance.ErrNestedTx) || !strings.Contains(inner.Error(), "nested") {
		t.Errorf("T2: Tx inside Tx: err = %v, want ErrNestedTx with a clear message", inner)
	}
	if !errors.Is(begin, resonance.ErrNestedTx) {
		t.Errorf("T2: Begin inside Tx: err = %v, want ErrNestedTx", begin)
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("T2: outer Tx: %v", err)
	}
	if committed(t, path, "outer") || committed(t, path, "inner") {
		t.Error("T2: work of a rolled-back outer transaction, or of the refused inner one, was committed")
	}

	etx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := s.Tx(etx.Context(), insertNode(ctx, "inside-explicit")); !errors.Is(err, resonance.ErrNestedTx) {
		t.Errorf("T2: Tx with the context of an open ExplicitTx: err = %v, want ErrNestedTx", err)
	}
	etx.Rollback()
	if err := s.Tx(ctx, insertNode(ctx, "after")); err != nil {
		t.Errorf("T2: Tx after the refused nesting: %v", err)
	}
}

// TestT2_NestedWritesFromGoroutinesEnd starts goroutines inside a Tx, as
// errgroup does, that write through the Store: with the transaction's
// context (or one derived from it) they are refused with ErrNestedTx at
// once; with an unrelated context.Background() they cannot be recognised as
// nested, and end with ErrBusy once the busy timeout has passed instead of
// waiting for the writer forever. Nothing of theirs is written.
func TestT2_NestedWritesFromGoroutinesEnd(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	const busy = 300 * time.Millisecond
	s := openStore(t, path, resonance.Options{BusyTimeout: busy})
	type result struct {
		err  error
		took time.Duration
	}
	var withTx, derived, background, tx2 result
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		var wg sync.WaitGroup
		run := func(r *result, c context.Context, write func(context.Context) error) {
			wg.Go(func() {
				start := time.Now()
				r.err = write(c)
				r.took = time.Since(start)
			})
		}
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		run(&withTx, ctx, func(c context.Context) error {
			return s.Tx(c, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: "from-goroutine", Type: "doc"})
			})
		})
		run(&derived, child, func(c context.Context) error {
			return s.Tx(c, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, "a", "b", "") })
		})
		run(&tx2, child, func(c context.Context) error { return s.Tx(c, insertNode(c, "nested-tx")) })
		run(&background, context.Background(), func(c context.Context) error {
			return s.Tx(c, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: "from-background", Type: "doc"})
			})
		})
		wg.Wait()
		return tx.UpsertNode(ctx, resonance.Node{ID: "outer", Type: "doc"})
	})
	if err != nil {
		t.Fatalf("%s: outer Tx: %v", rule(t), err)
	}
	for name, r := range map[string]result{"UpsertNode with the Tx's ctx": withTx, "InsertEdge with a derived ctx": derived, "Store.Tx with a derived ctx": tx2} {
		if !errors.Is(r.err, resonance.ErrNestedTx) {
			t.Errorf("T2: %s from a goroutine inside Tx: err = %v, want ErrNestedTx", name, r.err)
		}
		if r.took >= busy {
			t.Errorf("T2: %s was refused after %v, want at once (before the %v busy timeout)", name, r.took, busy)
		}
	}
	if !errors.Is(background.err, resonance.ErrBusy) || !strings.Contains(background.err.Error(), "busy timeout") {
		t.Errorf("T2: a Store write with context.Background() from a goroutine inside Tx: err = %v, want ErrBusy naming the busy timeout", background.err)
	}
	if background.took < busy || background.took > 10*busy {
		t.Errorf("T2: the unrecognisable nested write ended after %v, want the busy timeout (%v)", background.took, busy)
	}
	for _, id := range []string{"from-goroutine", "from-background", "nested-tx"} {
		if committed(t, path, id) {
			t.Errorf("T2: %q, written by a refused nested write, is in the database", id)
		}
	}
	if !committed(t, path, "outer") {
		t.Error("T2: the outer transaction's own write is missing")
	}
	// Once the transaction has ended, its context no longer marks a nested
	// write.
	var after context.Context
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { after = ctx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(after, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "after", Type: "doc"})
	}); err != nil {
		t.Errorf("T2: a write with the context of a Tx that has ended: %v, want success", err)
	}
}

// TestT3_ReadSnapshotOnReadOnlyConnections checks Store.Read: one
// consistent snapshot while another transaction commits, query_only
// connections that refuse writes, and many Reads at once beside an open
// write transaction.
func TestT3_ReadSnapshotOnReadOnlyConnections(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{MaxReaders: 4})
	if err := s.Tx(ctx, insertNode(ctx, "first")); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		before := count(t, tx, `SELECT count(*) FROM nodes`)
		if err := s.Tx(ctx, insertNode(ctx, "during")); err != nil {
			return err
		}
		if after := count(t, tx, `SELECT count(*) FROM nodes`); after != before {
			t.Errorf("T3: a Read saw %d rows, then %d after another transaction committed: not one snapshot", before, after)
		}
		if q := count(t, tx, `PRAGMA query_only`); q != 1 {
			t.Errorf("T3: Read runs on a connection with query_only = %d, want 1", q)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('in-read', 'doc')`); !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("T3: a write inside Read: err = %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if !committed(t, path, "during") {
		t.Error("T3: the transaction committed during the Read is missing")
	}

	etx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := insertNode(ctx, "uncommitted")(ctx, etx.Tx); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	const n = 4
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
				arrived.Done()
				select { // every Read is inside its transaction at the same time
				case <-all:
				case <-time.After(5 * time.Second):
					return errors.New("the other Reads never started: Reads do not run at once")
				}
				if c := count(t, tx, `SELECT count(*) FROM nodes WHERE id = 'uncommitted'`); c != 0 {
					return errors.New("a Read sees the writer's uncommitted row")
				}
				return nil
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("T3: %d Reads at once beside an open write transaction: %v", n, err)
		}
	}
	etx.Rollback()
}

// TestT4_ExplicitTransactions checks the seed's begin/commit/rollback
// under the same rules as Tx: IMMEDIATE, commit keeps, rollback discards,
// nesting refused, long ones reported, and a leaked one reported at Close.
func TestT4_ExplicitTransactions(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s, err := resonance.Open(ctx, path, resonance.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	etx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if !writeLockTaken(t, path) {
		t.Error("T4: Begin did not take the write lock: it must begin IMMEDIATE")
	}
	if err := insertNode(ctx, "explicit-commit")(ctx, etx.Tx); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := s.Begin(etx.Context()); !errors.Is(err, resonance.ErrNestedTx) {
		t.Errorf("T4: Begin with the context of an open ExplicitTx: err = %v, want ErrNestedTx", err)
	}
	if err := etx.Commit(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if !committed(t, path, "explicit-commit") {
		t.Error("T4: Commit did not keep the row")
	}
	if err := etx.Rollback(); err != nil {
		t.Errorf("T4: Rollback after Commit: err = %v, want nil", err)
	}

	etx, err = s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	insertNode(ctx, "explicit-rollback")(ctx, etx.Tx)
	time.Sleep(150 * time.Millisecond) // longer than half the busy timeout
	if err := etx.Rollback(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if committed(t, path, "explicit-rollback") {
		t.Error("T4: Rollback kept the row")
	}
	if m := s.LongTransactions(); m != 1 {
		t.Errorf("T4/W8: an explicit transaction held 150ms with a 200ms busy timeout: LongTransactions() = %d, want 1", m)
	}

	if _, err := s.Begin(ctx); err != nil { // never ended
		t.Fatalf("%s: %v", rule(t), err)
	}
	err = s.Close()
	if !errors.Is(err, resonance.ErrLeakedConnections) || !strings.Contains(err.Error(), "1 connection") {
		t.Errorf("T4: Close with an unfinished ExplicitTx: err = %v, want ErrLeakedConnections counting 1", err)
	}
	if got := integrity(t, path); got != "ok" {
		t.Errorf("T4: integrity_check after closing with a leaked transaction = %q", got)
	}
}
