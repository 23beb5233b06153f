package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestW3_ReadersSeeSnapshotDuringWrite holds a write transaction open in
// one process and reads from other connections of another process and
// from a third process: each reads the last committed snapshot, at once
// and without error. Then the roles turn: this process holds the write.
func TestW3_ReadersSeeSnapshotDuringWrite(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('1', 'doc'), ('2', 'doc'), ('3', 'doc')`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	readHere := func(what string, want int) {
		t.Helper()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				begin := time.Now()
				var n int
				err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
					return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n)
				})
				took := time.Since(begin)
				switch {
				case err != nil:
					t.Errorf("W3: %s: reader goroutine %d: %v", what, g, err)
				case n != want:
					t.Errorf("W3: %s: reader goroutine %d saw %d rows, want the committed %d", what, g, n, want)
				case took > time.Second:
					t.Errorf("W3: %s: reader goroutine %d waited %v", what, g, took)
				}
			}()
		}
		wg.Wait()
	}
	readThere := func(what string, want int) {
		t.Helper()
		var r readResult
		start(t, spawn{role: "read-count", args: childArgs{DB: path}}).result(&r, 60*time.Second)
		switch {
		case r.Err != "":
			t.Errorf("W3: %s: reader process: %s", what, r.Err)
		case r.Count != want:
			t.Errorf("W3: %s: reader process saw %d rows, want the committed %d", what, r.Count, want)
		case r.Millis > 2500: // waiting on the lock would take the 5s busy timeout
			t.Errorf("W3: %s: the reader process took %s to open and read: it waited for the writer", what, r.Elapsed)
		}
	}

	w := start(t, spawn{role: "hold-write", args: childArgs{DB: path}})
	w.expect("HOLDING", 30*time.Second)
	readHere("another process holds a write transaction", 3)
	readThere("another process holds a write transaction", 3)
	w.send("commit")
	w.expect("COMMITTED", 10*time.Second)
	w.wait(10 * time.Second)
	readHere("after the other process committed", 4)

	etx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := etx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('5', 'doc')`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	readThere("this process holds a write transaction", 4)
	readHere("this process holds a write transaction", 4)
	if err := etx.Rollback(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
}

// TestW4_TwoWriterProcessesFourReaders runs two writer processes (Store.Tx
// in a loop, each transaction reading before it writes) and four reader
// goroutines (Store.Read) for a few seconds: no busy error reaches anyone,
// and every committed row is there afterwards.
func TestW4_TwoWriterProcessesFourReaders(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	const d = 2500 * time.Millisecond
	ws := startTogether(t,
		spawn{role: "writer", args: childArgs{DB: path, Duration: d, Writer: 1}},
		spawn{role: "writer", args: childArgs{DB: path, Duration: d, Writer: 2}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var readErrs []error
	reads := 0
	stop := time.Now().Add(d)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for time.Now().Before(stop) {
				var n int
				err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
					return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE type = 'w4'`).Scan(&n)
				})
				mu.Lock()
				if err != nil {
					readErrs = append(readErrs, err)
				} else if n < last {
					readErrs = append(readErrs, fmt.Errorf("reader %d: count went back from %d to %d", g, last, n))
				}
				reads++
				mu.Unlock()
				last = n
				time.Sleep(time.Millisecond)
			}
		}()
	}
	rs := make([]loopResult, len(ws))
	for i, w := range ws {
		w.result(&rs[i], 60*time.Second)
	}
	wg.Wait()
	for _, err := range readErrs {
		t.Errorf("W4: reader error (busy: %v): %v", isBusy(err), err)
	}
	for i, r := range rs {
		if r.Busy > 0 || r.Other > 0 {
			t.Errorf("W4: writer process %d: %d busy and %d other errors reached the caller in %d transactions: %q", i+1, r.Busy, r.Other, r.Commits+r.Busy+r.Other, r.Errors)
		}
		if r.Commits == 0 {
			t.Errorf("W4: writer process %d committed nothing", i+1)
		}
		w := i + 1
		n := count(t, s.DB(), `SELECT count(*) FROM nodes WHERE id LIKE ?`, fmt.Sprintf("w%d-%%", w))
		var maxID string
		s.DB().QueryRowContext(ctx, `SELECT coalesce(max(id), '') FROM nodes WHERE id LIKE ?`, fmt.Sprintf("w%d-%%", w)).Scan(&maxID)
		if int64(n) != r.Commits || maxID != fmt.Sprintf("w%d-%06d", w, r.Commits) {
			t.Errorf("W4: writer process %d reported %d commits; the database holds %d of its rows, the newest %q", w, r.Commits, n, maxID)
		}
	}
	t.Logf("%v: writers committed %d and %d transactions (busy errors %d and %d), readers made %d reads (errors %d)", d, rs[0].Commits, rs[1].Commits, rs[0].Busy, rs[1].Busy, reads, len(readErrs))
}

// TestW4_DeferredControlGetsBusy is the control of the W4 test: the same
// read-then-write transactions begun with a plain deferred BEGIN in two
// processes fail with SQLITE_BUSY (a lock upgrade busy_timeout cannot
// wait out), so the W4 test would fail if Store.Tx did not begin IMMEDIATE.
func TestW4_DeferredControlGetsBusy(t *testing.T) {
	path := newDB(t)
	ws := startTogether(t,
		spawn{role: "writer", args: childArgs{DB: path, Duration: time.Second, Writer: 1, Mode: "plain-deferred"}},
		spawn{role: "writer", args: childArgs{DB: path, Duration: time.Second, Writer: 2, Mode: "plain-deferred"}})
	var busy, commits int64
	var sample []string
	for _, w := range ws {
		var r loopResult
		w.result(&r, 60*time.Second)
		busy += r.Busy
		commits += r.Commits
		sample = append(sample, r.Errors...)
	}
	if busy == 0 {
		t.Errorf("W4 control: two processes ran %d deferred read-then-write transactions without a busy error: the W4 test cannot tell IMMEDIATE from DEFERRED", commits)
	}
	t.Logf("control: deferred transactions: %d committed, %d failed with busy, e.g. %q", commits, busy, sample)
}

// TestW5_CheckpointTruncate checks Store.Checkpoint: a complete TRUNCATE
// checkpoint leaves a 0-byte -wal, and one blocked by a reader on an old
// snapshot reports busy and partial counts instead of failing.
func TestW5_CheckpointTruncate(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{BusyTimeout: 300 * time.Millisecond})
	write := func(n int) {
		t.Helper()
		for i := range n {
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type, summary) VALUES (?, 'doc', hex(randomblob(300)))`, fmt.Sprintf("%d-%d", time.Now().UnixNano(), i))
				return err
			}); err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
		}
	}
	write(20)
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("W5: checkpoint: %v", err)
	}
	fi, statErr := os.Stat(path + "-wal")
	if cp.Busy || cp.LogFrames == 0 || cp.Checkpointed != cp.LogFrames || cp.WALBytes != 0 || statErr != nil || fi.Size() != 0 {
		t.Errorf("W5: checkpoint with no reader = %+v, -wal %v; want complete, frames reported, -wal 0 bytes", cp, fi)
	}

	// A reader keeps an old snapshot while more is written.
	rtx, err := s.ReadDB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	count(t, rtx, `SELECT count(*) FROM nodes`)
	write(10)
	cp, err = s.Checkpoint(ctx)
	if err != nil {
		t.Errorf("W5: a checkpoint blocked by a reader returned an error (%v); busy must be reported in the result", err)
	} else if !cp.Busy || cp.LogFrames == 0 || cp.WALBytes == 0 {
		t.Errorf("W5: checkpoint with a reader on an old snapshot = %+v; want Busy, the log frames, a -wal that is not truncated", cp)
	}
	rtx.Rollback()
	cp, err = s.Checkpoint(ctx)
	if err != nil || cp.Busy || cp.WALBytes != 0 {
		t.Errorf("W5: checkpoint after the reader finished = %+v, %v; want complete with -wal 0 bytes", cp, err)
	}
}

// TestW5_ExternalCheckpointsLeaveWALToReplicator opens a store with
// ExternalCheckpoints beside an outside replicator's connection (as
// Litestream keeps one): writes well past the autocheckpoint threshold
// never reach the database file, Checkpoint refuses, and Close leaves the
// WAL to the replicator. The control shows that a normal store does
// checkpoint on its own.
func TestW5_ExternalCheckpointsLeaveWALToReplicator(t *testing.T) {
	ctx := context.Background()
	// Write about 1.5 times the pages of a normal store's autocheckpoint
	// threshold (a round is about 62 pages).
	threshold := normalAutocheckpoint(t)
	rounds := 24 * threshold / 1000
	fill := func(t *testing.T, s *resonance.Store) {
		for i := range rounds {
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM c WHERE j < 50)
					INSERT INTO nodes (id, type, summary) SELECT ? || '-' || j, 'doc', hex(randomblob(2000)) FROM c`, strconv.Itoa(i))
				return err
			}); err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
		}
	}
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return -1
		}
		return fi.Size()
	}

	t.Run("Control", func(t *testing.T) {
		path := newDB(t)
		before := size(path)
		s := openStore(t, path, resonance.Options{})
		fill(t, s)
		// The background checkpoint runs on its own goroutine: give it
		// time on a loaded machine.
		after := size(path)
		for deadline := time.Now().Add(10 * time.Second); after <= before && time.Now().Before(deadline); after = size(path) {
			time.Sleep(20 * time.Millisecond)
		}
		if after <= before {
			t.Errorf("W5 control: a normal store wrote %d pages and the database file stayed at %d bytes: no autocheckpoint seen, the test cannot tell", rounds*62, after)
		}
	})

	path := newDB(t)
	repl := plainDB(t, path, "")
	replConn, err := repl.Conn(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer replConn.Close()
	count(t, replConn, `SELECT count(*) FROM nodes`)
	before := size(path)

	s, err := resonance.Open(ctx, path, resonance.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer s.Close()
	forConns(t, s.ReadDB(), 3, func(i int, c *sql.Conn) {
		if st, err := readSettings(ctx, c); err != nil || st.AutoCheckpoint != 0 {
			t.Errorf("W5: reader %d: wal_autocheckpoint = %d (%v), want 0", i, st.AutoCheckpoint, err)
		}
	})
	if st, err := readSettings(ctx, s.DB()); err != nil || st.AutoCheckpoint != 0 {
		t.Errorf("W5: writer: wal_autocheckpoint = %d (%v), want 0", st.AutoCheckpoint, err)
	}
	fill(t, s)
	if after := size(path); after != before {
		t.Errorf("W5: with ExternalCheckpoints the database file changed from %d to %d bytes: the library checkpointed", before, after)
	}
	if wal := size(path + "-wal"); wal < 1000*4096 {
		t.Errorf("W5: -wal is %d bytes after %d pages of writes, want it to hold them all", wal, rounds*62)
	}
	if _, err := s.Checkpoint(ctx); !errors.Is(err, resonance.ErrCheckpointsDisabled) {
		t.Errorf("W5: Checkpoint with ExternalCheckpoints: err = %v, want ErrCheckpointsDisabled", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if after := size(path); after != before {
		t.Errorf("W5: closing a store with ExternalCheckpoints checkpointed: the database file went from %d to %d bytes", before, after)
	}
	if wal := size(path + "-wal"); wal < 1000*4096 {
		t.Errorf("W5: after Close, -wal is %d bytes: the library truncated the replicator's WAL", wal)
	}
	if n := count(t, replConn, `SELECT count(*) FROM nodes`); n != rounds*50 {
		t.Errorf("W5: the replicator reads %d rows, want %d", n, rounds*50)
	}
}

// TestW6_OptimizeAndCleanClose checks that Open runs PRAGMA
// optimize=0x10002 (tables with indexes that were never analyzed get
// statistics as soon as the store opens), that Close runs PRAGMA optimize,
// closes every connection (the last close removes -wal and -shm) and leaves
// a database that passes integrity_check.
func TestW6_OptimizeAndCleanClose(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300)
			INSERT INTO edges (source, target, type) SELECT 's' || (i % 30), 't' || i, 'related_to' FROM c`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	s.Close()
	plain := plainDB(t, path, "")
	if _, err := plain.Exec(`DROP TABLE IF EXISTS sqlite_stat1`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	plain.Close()

	s = openStore(t, path, resonance.Options{})
	stat := func() string {
		var st string
		s.DB().QueryRowContext(ctx, `SELECT coalesce((SELECT stat FROM sqlite_stat1 WHERE idx = 'idx_edges_target'), '')`).Scan(&st)
		return st
	}
	if st := stat(); !strings.HasPrefix(st, "300 ") {
		t.Errorf("W6: right after Open, sqlite_stat1 for idx_edges_target = %q, want statistics of the 300 edges (PRAGMA optimize=0x10002 at open)", st)
	}
	// Grow the table past the point where optimize re-analyzes it, and use
	// the index on the writer, the connection Close optimizes.
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 9000)
			INSERT INTO edges (source, target, type) SELECT 'g' || (i % 90), 'u' || i, 'related_to' FROM c`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	count(t, s.DB(), `SELECT count(*) FROM edges WHERE target = 'u1'`)
	r := s.ReadDB()
	if err := s.Close(); err != nil {
		t.Fatalf("W6: Close: %v", err)
	}
	for name, db := range map[string]*sql.DB{"writer": s.DB(), "readers": r} {
		if n := db.Stats().OpenConnections; n != 0 {
			t.Errorf("W6: after Close the %s pool still holds %d connections", name, n)
		}
	}
	if got := listDir(path); len(got) != 1 {
		t.Errorf("W6: after Close the directory holds %q, want only the database: a connection stayed open", got)
	}
	if got := integrity(t, path); got != "ok" {
		t.Errorf("W6: integrity_check after Close = %q, want ok", got)
	}
	var st string
	plainDB(t, path, "").QueryRow(`SELECT stat FROM sqlite_stat1 WHERE idx = 'idx_edges_target'`).Scan(&st)
	if !strings.HasPrefix(st, "9300 ") {
		t.Errorf("W6: after Close, sqlite_stat1 for idx_edges_target = %q, want fresh statistics of the 9300 edges (PRAGMA optimize at close)", st)
	}
	if err := s.Tx(ctx, func(context.Context, *resonance.Tx) error { return nil }); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("W6: Tx after Close: err = %v, want ErrClosed", err)
	}

	// PRAGMA optimize takes the write lock: when another connection holds
	// it past the busy timeout, Open skips the optimisation and succeeds.
	holder := plainDB(t, path, "")
	holder.SetMaxOpenConns(1)
	if _, err := holder.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	h := &captureHandler{}
	busy, err := resonance.Open(ctx, path, resonance.Options{BusyTimeout: 100 * time.Millisecond, Logger: slog.New(h)})
	if err != nil {
		t.Errorf("W6: Open while another connection holds the write lock past the busy timeout: %v", err)
	} else {
		busy.Close()
		if len(filterRecords(h, "optimize at open skipped")) != 1 {
			t.Errorf("W6: the skipped PRAGMA optimize at open was not logged")
		}
	}
	holder.Exec(`ROLLBACK`)
}

// TestW7_CommittedSurvivesKill9 lets a child process commit numbered
// transactions, printing each number once its commit returned, and kills
// it with SIGKILL at a random moment, five times. Every printed number is
// in the database afterwards, nothing of an uncommitted transaction is,
// and integrity_check passes. (Power loss with synchronous = NORMAL may
// drop the newest commits; that cannot be tested here.)
func TestW7_CommittedSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	t.Logf("random seed %d", seed)
	for run := 1; run <= 5; run++ {
		c := start(t, spawn{role: "commit-loop", args: childArgs{DB: path, Writer: run}})
		c.expect("READY", 30*time.Second)
		c.expect("1", 30*time.Second) // the random moment falls while it commits
		delay := time.Duration(50+rng.IntN(251)) * time.Millisecond
		time.Sleep(delay)
		c.kill()
		<-c.exited
		printed := 0
		for _, l := range c.lines() {
			if n, err := strconv.Atoi(l); err == nil {
				if n != printed+1 {
					t.Fatalf("W7 test setup: run %d printed %d after %d", run, n, printed)
				}
				printed = n
			}
		}

		s, err := resonance.Open(ctx, path, resonance.Options{})
		if err != nil {
			t.Fatalf("W7: run %d: reopening after kill -9: %v", run, err)
		}
		var res string
		if err := s.DB().QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
			t.Errorf("W7: run %d: integrity_check after kill -9 = %q, %v; want ok", run, res, err)
		}
		nums := func(query string) []int {
			rows, err := s.DB().QueryContext(ctx, query, run)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			defer rows.Close()
			var out []int
			for rows.Next() {
				var n int
				rows.Scan(&n)
				out = append(out, n)
			}
			return out
		}
		inNodes := nums(`SELECT CAST(title AS INTEGER) FROM nodes WHERE type = 'seq' AND id LIKE 'seq-' || ? || '-%' ORDER BY 1`)
		inHistory := nums(`SELECT CAST(new_value AS INTEGER) FROM history WHERE action = 'seq' AND entity_id LIKE 'seq-' || ? || '-%' ORDER BY 1`)
		k := len(inNodes)
		for i, n := range inNodes {
			if n != i+1 {
				t.Errorf("W7: run %d: the committed numbers are not the prefix 1..%d: %v", run, k, inNodes)
				break
			}
		}
		if k < printed {
			t.Errorf("W7: run %d: %d was printed after its commit returned, but the database holds only 1..%d", run, printed, k)
		}
		if k > printed+1 {
			t.Errorf("W7: run %d: the database holds 1..%d but only %d commits were printed; at most one commit can be in flight", run, k, printed)
		}
		if !slicesEqual(inNodes, inHistory) {
			t.Errorf("W7: run %d: nodes hold %d numbers, history %d: a transaction was applied in part", run, len(inNodes), len(inHistory))
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		t.Logf("run %d: killed %v after its first commit; %d commits printed, %d in the database, integrity ok", run, delay, printed, k)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestW8_LongTransactionReported holds write, read and explicit
// transactions longer than half the busy timeout: each one is logged and
// counted; a short one is not. A second writer waiting behind such a
// transaction times out with ErrBusy, which is why it is reported.
func TestW8_LongTransactionReported(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	h := &captureHandler{}
	s := openStore(t, path, resonance.Options{BusyTimeout: 200 * time.Millisecond, Logger: slog.New(h)})
	long := func() int { return len(filterRecords(h, "longer than half")) }

	if err := s.Tx(ctx, func(context.Context, *resonance.Tx) error { time.Sleep(10 * time.Millisecond); return nil }); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if m := s.LongTransactions(); m != 0 || long() != 0 {
		t.Errorf("W8: a 10ms transaction with a 200ms busy timeout was reported as long (%d, %d log lines)", m, long())
	}
	if err := s.Tx(ctx, func(context.Context, *resonance.Tx) error { time.Sleep(150 * time.Millisecond); return nil }); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if m := s.LongTransactions(); m != 1 || long() != 1 {
		t.Errorf("W8: a 150ms write transaction with a 200ms busy timeout: counter %d, %d log lines; want 1 and 1", m, long())
	}
	if err := s.Read(ctx, func(context.Context, *resonance.ReadTx) error { time.Sleep(150 * time.Millisecond); return nil }); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	etx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	other := openStore(t, path, resonance.Options{BusyTimeout: 200 * time.Millisecond})
	err = other.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return nil })
	if !errors.Is(err, resonance.ErrBusy) {
		t.Errorf("W8: a second writer behind a transaction held past the busy timeout: err = %v, want ErrBusy", err)
	}
	if err := etx.Commit(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if m := s.LongTransactions(); m != 3 || long() != 3 {
		t.Errorf("W8: after a long write, read and explicit transaction: counter %d, %d log lines; want 3 and 3", m, long())
	}
	for _, r := range filterRecords(h, "longer than half") {
		if r.Level != slog.LevelWarn {
			t.Errorf("W8: the long transaction is logged at %v, want WARN", r.Level)
		}
	}
}

func filterRecords(h *captureHandler, substr string) []slog.Record {
	var out []slog.Record
	for _, r := range h.records() {
		if strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

// normalAutocheckpoint is the wal_autocheckpoint threshold, in pages, of a
// normal read-write store's writer.
func normalAutocheckpoint(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	s, err := resonance.Open(ctx, filepath.Join(t.TempDir(), "normal.db"), resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := s.DB().QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil || pages <= 0 {
		t.Fatalf("W5 test setup: a normal store's wal_autocheckpoint is %d (%v)", pages, err)
	}
	return pages
}
