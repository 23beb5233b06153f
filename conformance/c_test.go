package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
)

// tracer records what Options.TraceConnect reports.
type tracer struct {
	mu    sync.Mutex
	stmts []string
}

func (tr *tracer) record(stmt string) {
	tr.mu.Lock()
	tr.stmts = append(tr.stmts, stmt)
	tr.mu.Unlock()
}

// segments splits the trace into one statement list per new connection,
// each starting at its busy_timeout; lead is whatever ran before the first.
func (tr *tracer) segments() (segs [][]string, lead []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range tr.stmts {
		if strings.HasPrefix(strings.ToLower(s), "pragma busy_timeout") {
			segs = append(segs, []string{s})
		} else if len(segs) == 0 {
			lead = append(lead, s)
		} else {
			segs[len(segs)-1] = append(segs[len(segs)-1], s)
		}
	}
	return segs, lead
}

// openedConnections is how many connections a pool has opened in its life.
func openedConnections(db *sql.DB) int {
	st := db.Stats()
	return st.OpenConnections + int(st.MaxIdleClosed+st.MaxIdleTimeClosed+st.MaxLifetimeClosed)
}

// checkTraceOrder asserts that each of the opened connections ran
// busy_timeout before anything else, then every other setting.
func checkTraceOrder(t *testing.T, what string, tr *tracer, opened int, busyMS string) {
	t.Helper()
	segs, lead := tr.segments()
	if len(lead) > 0 {
		t.Errorf("C1: %s: %d statement(s) ran on a new connection before busy_timeout: %q", what, len(lead), lead)
	}
	if len(segs) != opened {
		t.Errorf("C1: %s: the pool opened %d connections but %d began with PRAGMA busy_timeout", what, opened, len(segs))
	}
	for i, seg := range segs {
		if !strings.HasSuffix(seg[0], "= "+busyMS) {
			t.Errorf("C1: %s: connection %d began with %q, want busy_timeout = %s", what, i+1, seg[0], busyMS)
		}
		rest := strings.ToLower(strings.Join(seg[1:], "\n"))
		for _, want := range []string{"journal_mode", "synchronous", "mmap_size", "temp_store", "foreign_keys"} {
			if !strings.Contains(rest, want) {
				t.Errorf("C1/C7: %s: connection %d: %s was not applied after busy_timeout; trace %q", what, i+1, want, seg)
			}
		}
	}
}

// TestC1_BusyTimeoutFirst proves the order through Options.TraceConnect:
// on every connection a pool opens — the first, many held at once, and the
// ones that replace expired connections later — busy_timeout is the first
// statement the connector runs.
func TestC1_BusyTimeoutFirst(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c1.db")
	tr := &tracer{}
	db, err := resonance.Connect(ctx, path, resonance.Options{Create: true, BusyTimeout: 4 * time.Second, TraceConnect: tr.record})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	const held = 8
	db.SetMaxOpenConns(held)
	db.SetMaxIdleConns(held)
	var conns []*sql.Conn
	for range held {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	// Let the pool replace expired connections while it is used.
	db.SetConnMaxLifetime(15 * time.Millisecond)
	for range 12 {
		time.Sleep(20 * time.Millisecond)
		if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(new(int)); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
	opened := openedConnections(db)
	if opened < held+5 {
		t.Fatalf("C1 test setup: the pool opened only %d connections; expired ones were not replaced", opened)
	}
	checkTraceOrder(t, "Connect", tr, opened, "4000")

	// The store's writer and reader pools.
	tr2 := &tracer{}
	s := openStore(t, path, resonance.Options{TraceConnect: tr2.record, MaxReaders: 5})
	var rconns []*sql.Conn
	for range 5 {
		c, err := s.ReadDB().Conn(ctx)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		rconns = append(rconns, c)
	}
	for _, c := range rconns {
		c.Close()
	}
	// The store's background checkpoint has a connection of its own too,
	// and the migrations of this new database ran on one that was closed
	// after them (which the pool's counters do not count).
	checkTraceOrder(t, "Open", tr2, openedConnections(s.DB())+openedConnections(s.ReadDB())+2, "5000")
}

// TestC1_WaitsForLockHeldByAnotherProcess opens a connection while another
// process holds every lock of the database (locking_mode EXCLUSIVE after a
// write), so that even the first read on the new connection is blocked: the
// connector's connection waits and succeeds. The control, a plain
// connection without busy timeout, fails with SQLITE_BUSY in the same
// situation.
func TestC1_WaitsForLockHeldByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	for _, opener := range []string{"Connect", "Open"} {
		t.Run(opener, func(t *testing.T) {
			holder := start(t, spawn{role: "exclusive-holder", args: childArgs{DB: path, Hold: time.Second}})
			holder.expect("LOCKED", 30*time.Second)

			ctrl, err := sql.Open("sqlite3", dsn(path, "_busy_timeout=0"))
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			err = ctrl.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(new(int))
			ctrl.Close()
			if err == nil || !isBusy(err) {
				t.Fatalf("C1 control: a plain connection with _busy_timeout=0 got %v while another process held the lock, want SQLITE_BUSY: the test cannot show waiting", err)
			}

			tr := &tracer{}
			begin := time.Now()
			var n int
			switch opener {
			case "Connect":
				var db *sql.DB
				db, err = resonance.Connect(ctx, path, resonance.Options{TraceConnect: tr.record})
				if err == nil {
					n = count(t, db, `SELECT count(*) FROM nodes WHERE id = 'held-by-child'`)
					db.Close()
				}
			case "Open":
				var s *resonance.Store
				s, err = resonance.Open(ctx, path, resonance.Options{TraceConnect: tr.record})
				if err == nil {
					err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
						return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE id = 'held-by-child'`).Scan(&n)
					})
					s.Close()
				}
			}
			waited := time.Since(begin)
			if err != nil {
				t.Fatalf("C1: %s while another process held the database's lock failed instead of waiting: %v (busy: %v)", opener, err, isBusy(err))
			}
			if n != 1 {
				t.Errorf("C1: %s waited but does not see the other process's committed row", opener)
			}
			if waited < 100*time.Millisecond {
				t.Errorf("C1 test setup: %s returned after %v, before the holder released its lock: nothing was proven", opener, waited)
			}
			if segs, lead := tr.segments(); len(lead) > 0 || len(segs) == 0 {
				t.Errorf("C1: %s: statements before busy_timeout: %q", opener, lead)
			}
			holder.expect("RELEASED", 10*time.Second)
			holder.wait(10 * time.Second)
			t.Logf("%s waited %v for the other process's exclusive lock, then succeeded", opener, waited.Round(time.Millisecond))
		})
	}
}

// TestC1_PerRequestConnectionsAcrossProcesses runs three processes that
// open, use and close a connection per request at the same time. Each close
// may be the last one, which checkpoints and deletes the WAL under an
// exclusive lock; after a crash the next opener runs recovery under a lock.
// Through the connector nobody fails; the control without busy timeout does.
func TestC1_PerRequestConnectionsAcrossProcesses(t *testing.T) {
	path := newDB(t)
	run := func(mode string, d time.Duration) []loopResult {
		var ss []spawn
		for i := range 3 {
			ss = append(ss, spawn{role: "per-request", args: childArgs{DB: path, Duration: d, Writer: i + 1, Mode: mode}})
		}
		ps := startTogether(t, ss...)
		rs := make([]loopResult, len(ps))
		for i, p := range ps {
			p.result(&rs[i], 60*time.Second)
		}
		return rs
	}

	t.Run("Connector", func(t *testing.T) {
		for i, r := range run("", 1200*time.Millisecond) {
			if r.Busy+r.Other > 0 || r.OK == 0 {
				t.Errorf("C1: process %d: %d busy and %d other errors in %d per-request opens: %q", i+1, r.Busy, r.Other, r.OK+r.Busy+r.Other, r.Errors)
			}
			t.Logf("process %d: %d requests, no error", i+1, r.OK)
		}
	})
	t.Run("ControlWithoutBusyTimeout", func(t *testing.T) {
		var busy, total int64
		for _, r := range run("plain-busy0", 1200*time.Millisecond) {
			busy += r.Busy
			total += r.OK + r.Busy + r.Other
		}
		if busy == 0 {
			t.Errorf("C1 control: %d per-request opens without busy timeout in three processes saw no busy error: the test cannot tell", total)
		}
		t.Logf("control: %d of %d per-request opens without busy timeout failed with SQLITE_BUSY", busy, total)
	})
	t.Run("AfterCrash", func(t *testing.T) {
		crashPath := newDB(t)
		for round := range 3 {
			w := start(t, spawn{role: "commit-loop", args: childArgs{DB: crashPath, Writer: round + 1}})
			w.expect("READY", 30*time.Second)
			w.expect("20", 30*time.Second)
			w.kill()
			<-w.exited
			for _, suffix := range []string{"-wal", "-shm"} {
				if _, err := os.Stat(crashPath + suffix); err != nil {
					t.Fatalf("C1 test setup: the killed writer left no %s: %v", suffix, err)
				}
			}
			var ss []spawn
			for i := range 3 {
				ss = append(ss, spawn{role: "per-request", args: childArgs{DB: crashPath, Writer: 10*round + i}})
			}
			for i, p := range startTogether(t, ss...) {
				var r loopResult
				p.result(&r, 60*time.Second)
				if r.Busy+r.Other > 0 {
					t.Errorf("C1: round %d: process %d opening right after a crash failed: %q", round+1, i+1, r.Errors)
				}
			}
		}
		if got := integrity(t, crashPath); got != "ok" {
			t.Errorf("C1: integrity_check after crashes and concurrent recovery = %q, want ok", got)
		}
	})
}

// TestC2_JournalModeReadBeforeSet checks that the connector reads
// journal_mode and switches to WAL only when the file is not in WAL yet, so
// that opening a WAL database needs no write lock: it opens at once while
// another process holds the write lock.
func TestC2_JournalModeReadBeforeSet(t *testing.T) {
	ctx := context.Background()
	setsWAL := func(seg []string) bool {
		return slices.ContainsFunc(seg, func(s string) bool {
			return strings.HasPrefix(strings.ToLower(s), "pragma journal_mode =")
		})
	}
	readsFirst := func(t *testing.T, seg []string) {
		t.Helper()
		i := slices.IndexFunc(seg, func(s string) bool { return strings.EqualFold(s, "PRAGMA journal_mode") })
		j := slices.IndexFunc(seg, func(s string) bool { return strings.HasPrefix(strings.ToLower(s), "pragma journal_mode =") })
		if i < 0 || (j >= 0 && j < i) {
			t.Errorf("C2: journal_mode was not read before it was set: %q", seg)
		}
	}

	t.Run("FreshFileSwitchedToWAL", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fresh.db")
		tr := &tracer{}
		db, err := resonance.Connect(ctx, path, resonance.Options{Create: true, TraceConnect: tr.record})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		defer db.Close()
		segs, _ := tr.segments()
		if len(segs) == 0 || !setsWAL(segs[0]) {
			t.Fatalf("C2: the first connection to a new file did not set journal_mode = WAL: %q", segs)
		}
		readsFirst(t, segs[0])
		if a, b := headerMode(t, path); a != 2 || b != 2 {
			t.Errorf("C2: new database header says file format %d/%d, want 2/2 (WAL)", a, b)
		}
	})

	t.Run("RollbackJournalDatabaseConverted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		plain := plainDB(t, path, "_journal_mode=DELETE")
		if _, err := plain.Exec(`CREATE TABLE kept (x); INSERT INTO kept VALUES (42)`); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		plain.Close()
		if a, _ := headerMode(t, path); a != 1 {
			t.Fatalf("C2 test setup: the plain database is not in rollback-journal mode (%d)", a)
		}
		tr := &tracer{}
		db, err := resonance.Connect(ctx, path, resonance.Options{TraceConnect: tr.record})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		defer db.Close()
		if a, b := headerMode(t, path); a != 2 || b != 2 {
			t.Errorf("C2: a rollback-journal database opened by the connector is still format %d/%d, want WAL", a, b)
		}
		segs, _ := tr.segments()
		readsFirst(t, segs[0])
		if got := count(t, db, `SELECT x FROM kept`); got != 42 {
			t.Errorf("C2: data after switching to WAL = %d, want 42", got)
		}
	})

	t.Run("ExistingWALOpensWithoutWriteLock", func(t *testing.T) {
		path := newDB(t)
		w := start(t, spawn{role: "hold-write", args: childArgs{DB: path}})
		w.expect("HOLDING", 30*time.Second)

		tr := &tracer{}
		begin := time.Now()
		db, err := resonance.Connect(ctx, path, resonance.Options{TraceConnect: tr.record})
		if err != nil {
			t.Fatalf("C2: opening a WAL database while another process holds the write lock: %v", err)
		}
		db.SetMaxOpenConns(4)
		var conns []*sql.Conn
		for range 4 {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatalf("C2: opening a WAL database while another process holds the write lock: %v", err)
			}
			conns = append(conns, c)
		}
		n := count(t, conns[3], `SELECT count(*) FROM nodes`)
		took := time.Since(begin)
		for _, c := range conns {
			c.Close()
		}
		db.Close()
		if took > 2*time.Second {
			t.Errorf("C2: opening 4 connections took %v while another process held the write lock: the connector waited for a lock it should not need", took)
		}
		if n != 0 {
			t.Errorf("C2: the new connections see %d rows, want 0: the holder's row is not committed", n)
		}
		segs, _ := tr.segments()
		if len(segs) != 4 {
			t.Errorf("C2: traced %d new connections, want 4", len(segs))
		}
		for i, seg := range segs {
			readsFirst(t, seg)
			if setsWAL(seg) {
				t.Errorf("C2: connection %d set journal_mode on a database already in WAL: %q", i+1, seg)
			}
		}
		w.send("commit")
		w.expect("COMMITTED", 10*time.Second)
		w.wait(10 * time.Second)
	})
}

// TestC3_SynchronousNormal checks synchronous = NORMAL on every connection,
// and its behaviour: in WAL mode a commit does not wait for fsync (only
// checkpoints do), counted with strace on a child process; the control
// with synchronous = FULL syncs on every commit.
func TestC3_SynchronousNormal(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	t.Run("EveryConnection", func(t *testing.T) {
		db, err := resonance.Connect(ctx, path, resonance.Options{})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		defer db.Close()
		forConns(t, db, 6, func(i int, c *sql.Conn) {
			if s, err := readSettings(ctx, c); err != nil || s.Synchronous != 1 {
				t.Errorf("C3: connection %d: synchronous = %d (%v), want 1 (NORMAL)", i, s.Synchronous, err)
			}
		})
	})
	t.Run("NoFsyncPerCommit", func(t *testing.T) {
		strace, err := exec.LookPath("strace")
		if err != nil {
			t.Skip("C3: counting fsync calls needs strace, which is not installed; EveryConnection still checks the setting")
		}
		if out, err := exec.Command(strace, "-f", "-qq", "-o", os.DevNull, "-e", "trace=getpid", os.Args[0], "-test.run=^$").CombinedOutput(); err != nil {
			t.Skipf("C3: strace cannot trace a child here (%v: %s): ptrace is probably not permitted; EveryConnection still checks the setting", err, out)
		}
		const commits = 40
		fsyncs := func(mode string) int {
			out := filepath.Join(t.TempDir(), "strace.out")
			p := start(t, spawn{role: "commits", args: childArgs{DB: path, Count: commits, Mode: mode},
				wrap: []string{strace, "-f", "-qq", "-o", out, "-e", "trace=fsync,fdatasync,getpgid"}})
			p.wait(60 * time.Second)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Skipf("C3: strace wrote no trace (%v): ptrace is probably not permitted here", err)
			}
			n, inside := 0, false
			for _, line := range strings.Split(string(b), "\n") {
				switch {
				case strings.Contains(line, "getpgid(1999999901"):
					inside = true
				case strings.Contains(line, "getpgid(1999999902"):
					inside = false
				case inside && (strings.Contains(line, "fsync(") || strings.Contains(line, "fdatasync(")):
					n++
				}
			}
			return n
		}
		normal, full := fsyncs("normal"), fsyncs("full")
		t.Logf("%d commits: %d fsync calls with the connector's synchronous = NORMAL, %d with FULL", commits, normal, full)
		if full < commits {
			t.Errorf("C3 control: %d commits with synchronous = FULL made only %d fsync calls: the probe cannot see syncs", commits, full)
		}
		if normal >= commits/4 {
			t.Errorf("C3: %d commits made %d fsync calls: synchronous is not NORMAL (WAL mode syncs only at checkpoints)", commits, normal)
		}
	})
}

// forConns holds n connections of db open at once and calls fn on each.
func forConns(t *testing.T, db *sql.DB, n int, fn func(i int, c *sql.Conn)) {
	t.Helper()
	db.SetMaxOpenConns(n)
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		fn(i+1, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestC4_NoMemoryMappedIO reads a database through every kind of library
// connection and then looks at this process's memory map: the file must
// not be mapped. The control, a plain connection with mmap_size 1 MiB,
// maps it.
func TestC4_NoMemoryMappedIO(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	abs, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	s := openStore(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
			INSERT INTO nodes (id, type, summary) SELECT 'm' || i, 'doc', hex(randomblob(500)) FROM c`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := s.Checkpoint(ctx); err != nil { // the pages now live in the file itself
		t.Fatalf("%s: %v", rule(t), err)
	}
	const scan = `SELECT sum(length(summary)) FROM nodes`
	if err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		return tx.QueryRowContext(ctx, scan).Scan(new(int))
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	count(t, s.DB(), scan)
	db, err := resonance.Connect(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	forConns(t, db, 4, func(i int, c *sql.Conn) {
		count(t, c, scan)
		if st, err := readSettings(ctx, c); err != nil || st.MmapSize != 0 {
			t.Errorf("C4: connection %d: mmap_size = %d (%v), want 0", i, st.MmapSize, err)
		}
	})
	if n := mappings(t, abs); n != 0 {
		t.Errorf("C4: after reads through the library's connections the database file is memory-mapped (%d mappings in /proc/self/maps), want none: mmap_size must be 0", n)
	}

	ctrl := plainDB(t, path, "")
	ctrl.SetMaxOpenConns(1)
	if _, err := ctrl.Exec(`PRAGMA mmap_size = 1048576`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	count(t, ctrl, scan)
	if n := mappings(t, abs); n == 0 {
		t.Errorf("C4 control: a plain connection with mmap_size = 1 MiB left no mapping of the file: the probe cannot see memory-mapped I/O")
	}
}

// deletedFiles lists this process's descriptors of unlinked files: SQLite's
// temporary files (temp tables, sorter spills) are unlinked when opened.
func deletedFiles(t *testing.T) []string {
	var out []string
	for _, f := range openFDs(t) {
		if strings.HasSuffix(f.Target, "(deleted)") {
			out = append(out, f.Target)
		}
	}
	return out
}

func newEntries(before, after []string) []string {
	var out []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			out = append(out, a)
		}
	}
	return out
}

// TestC5_TempStoreInMemory builds a temporary table and a sort larger than
// the page cache on the writer and on a reader, and checks that no
// temporary file was opened. The control with temp_store = FILE opens one.
func TestC5_TempStoreInMemory(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	const bigTemp = `CREATE TEMP TABLE scratch AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 6000) SELECT i, randomblob(1000) AS b FROM c`
	const bigSort = `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) SELECT i FROM c ORDER BY randomblob(400) || i`

	before := deletedFiles(t)
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if _, err := tx.ExecContext(ctx, bigTemp); err != nil {
			return err
		}
		if got := newEntries(before, deletedFiles(t)); len(got) > 0 {
			t.Errorf("C5: a 6 MB temp table on the writer opened temporary file(s) %q, want none: temp_store must be MEMORY", got)
		}
		_, err := tx.ExecContext(ctx, `DROP TABLE temp.scratch`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	sortOnce := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) []string {
		rows, err := q.QueryContext(ctx, bigSort)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		defer rows.Close()
		rows.Next() // the sort is done once the first row is out
		return newEntries(before, deletedFiles(t))
	}
	if err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		if got := sortOnce(tx); len(got) > 0 {
			t.Errorf("C5: an 8 MB sort on a reader opened temporary file(s) %q, want none: temp_store must be MEMORY", got)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}

	ctrl := plainDB(t, path, "")
	ctrl.SetMaxOpenConns(1)
	if _, err := ctrl.Exec(`PRAGMA temp_store = FILE`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := ctrl.Exec(bigTemp); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	tempFiles := newEntries(before, deletedFiles(t))
	if len(tempFiles) == 0 {
		t.Errorf("C5 control: a 6 MB temp table with temp_store = FILE opened no temporary file: the probe cannot see temp files")
	}
	ctrl.Exec(`DROP TABLE temp.scratch`)
	t.Logf("control with temp_store = FILE: temp table opened %q, sort opened %q", tempFiles, sortOnce(ctrl))
}

// TestC6_ForeignKeysEnforced writes rows that break a foreign key through
// many pooled connections, replaced ones and the store's writer: every one
// is refused. The control, a plain connection, accepts it.
func TestC6_ForeignKeysEnforced(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE fk_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE fk_child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES fk_parent (id));
			INSERT INTO fk_parent VALUES (1)`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	isFK := func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
	}
	id := 0
	orphan := func(what string, q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) {
		t.Helper()
		id++
		if _, err := q.ExecContext(ctx, `INSERT INTO fk_child VALUES (?, 999)`, id); !isFK(err) {
			t.Errorf("C6: %s: inserting a row whose parent does not exist: err = %v, want FOREIGN KEY constraint failed", what, err)
		}
		id++
		if _, err := q.ExecContext(ctx, `INSERT INTO fk_child VALUES (?, 1)`, id); err != nil {
			t.Errorf("C6: %s: a valid row was refused: %v", what, err)
		}
	}
	db, err := resonance.Connect(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	forConns(t, db, 8, func(i int, c *sql.Conn) { orphan("pooled connection", c) })
	db.SetConnMaxLifetime(10 * time.Millisecond)
	for range 4 {
		time.Sleep(15 * time.Millisecond)
		orphan("replaced connection", db)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { orphan("Store.Tx", tx); return nil }); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	orphan("Store.DB", s.DB())
	if n := count(t, s.DB(), `SELECT count(*) FROM fk_child WHERE parent = 999`); n != 0 {
		t.Errorf("C6: %d rows that break the foreign key were written", n)
	}

	ctrl := plainDB(t, path, "")
	if _, err := ctrl.Exec(`INSERT INTO fk_child VALUES (1000, 999)`); err != nil {
		t.Logf("control: a plain connection also refused the orphan (%v); this build enables foreign keys by default", err)
	} else {
		t.Log("control: a plain connection (foreign_keys off by default) accepted the orphan")
	}
}

// TestC7_EveryConnectionHardened holds many connections open at once from
// Connect and from a store's pools, lets the pool replace connections
// (SetConnMaxLifetime), and checks every setting on each of them.
func TestC7_EveryConnectionHardened(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	db, err := resonance.Connect(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	forConns(t, db, 16, func(i int, c *sql.Conn) {
		st, err := readSettings(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		checkSettings(t, "Connect, 16 held at once: connection "+itoa(i), st, false)
	})
	before := openedConnections(db)
	db.SetConnMaxLifetime(10 * time.Millisecond)
	for round := range 3 {
		time.Sleep(15 * time.Millisecond)
		forConns(t, db, 4, func(i int, c *sql.Conn) {
			st, err := readSettings(ctx, c)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			checkSettings(t, "replaced connection "+itoa(round)+"/"+itoa(i), st, false)
		})
	}
	if after := openedConnections(db); after < before+8 {
		t.Fatalf("C7 test setup: the pool opened only %d connections after expiry, want replacements", after-before)
	}

	s := openStore(t, path, resonance.Options{MaxReaders: 8})
	forConns(t, s.ReadDB(), 8, func(i int, c *sql.Conn) {
		st, err := readSettings(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		checkSettings(t, "store reader "+itoa(i), st, true)
	})
	st, err := readSettings(ctx, s.DB())
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	checkSettings(t, "store writer", st, false)
}

// TestC7_HookErrorFailsConnection makes the connector's settings fail on a
// new connection (another process holds every lock, the busy timeout is
// short): the connection is refused with ErrBusy, never handed out
// half-hardened, and the pool works again once the lock is gone.
func TestC7_HookErrorFailsConnection(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	db, err := resonance.Connect(ctx, path, resonance.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every use opens a new connection

	holder := start(t, spawn{role: "exclusive-holder", args: childArgs{DB: path, Hold: 800 * time.Millisecond}})
	holder.expect("LOCKED", 30*time.Second)
	c, err := db.Conn(ctx)
	if err == nil {
		st, _ := readSettings(ctx, c)
		c.Close()
		t.Fatalf("C7: a connection opened while its settings could not be applied was handed out (settings %+v)", st)
	}
	if !errors.Is(err, resonance.ErrBusy) {
		t.Errorf("C7: the failed connection's error = %v, want one wrapping ErrBusy", err)
	}
	if got := db.Stats().OpenConnections; got != 0 {
		t.Errorf("C7: %d connections stayed in the pool after hardening failed", got)
	}
	if _, err := resonance.Connect(ctx, path, resonance.Options{BusyTimeout: 100 * time.Millisecond}); !errors.Is(err, resonance.ErrBusy) || !strings.Contains(err.Error(), "busy timeout") {
		t.Errorf("C7: Connect while the settings cannot be applied: err = %v, want ErrBusy naming the busy timeout", err)
	}
	holder.expect("RELEASED", 10*time.Second)
	holder.wait(10 * time.Second)
	db.SetMaxIdleConns(4)
	forConns(t, db, 3, func(i int, c *sql.Conn) {
		st, err := readSettings(ctx, c)
		if err != nil {
			t.Fatalf("C7: after the lock was released: %v", err)
		}
		st.BusyTimeout = 5000 // this pool was opened with 100ms on purpose
		checkSettings(t, "connection after the failure "+itoa(i), st, false)
	})
}

// TestC8_ReadOnlyIsBehavioural opens a read-only store and checks that its
// connections hold the file open read-write (a WAL reader must write -shm),
// that every write through it fails with ErrReadOnly, and that reads work
// beside a writer.
func TestC8_ReadOnlyIsBehavioural(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	abs, _ := filepath.EvalSymlinks(path)
	ro := openStore(t, path, resonance.Options{ReadOnly: true})
	n := 0
	if err := ro.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n)
	}); err != nil {
		t.Fatalf("C8: reading through a read-only store: %v", err)
	}
	if err := ro.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { // deferred: query_only cannot BEGIN IMMEDIATE
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n)
	}); err != nil {
		t.Fatalf("C8: a reading Tx on a read-only store: %v", err)
	}
	// SQLite opens a database with O_NOFOLLOW; the store's own read-only
	// descriptor, which watches the file for a copy written over it
	// (fileid.go), does not, and is not a connection.
	var mine []fd
	for _, f := range openFDs(t) {
		if f.Target == abs && f.Flags&syscall.O_NOFOLLOW != 0 {
			mine = append(mine, f)
		}
	}
	if len(mine) == 0 {
		t.Fatal("C8 test setup: the read-only store holds no descriptor of the database file")
	}
	for _, f := range mine {
		if int(f.Flags&3) != os.O_RDWR {
			t.Errorf("C8: a read-only store's connection opened the file with flags %o, want O_RDWR (behavioural read-only, not mode=ro)", f.Flags)
		}
	}

	writes := []string{
		`INSERT INTO nodes (id, type) VALUES ('ro', 'doc')`,
		`UPDATE nodes SET title = 'x'`,
		`DELETE FROM nodes`,
		`CREATE TABLE ro_t (x)`,
		`CREATE TEMP TABLE ro_tt (x)`,
	}
	for _, w := range writes {
		exec := func(ctx context.Context, tx *resonance.Tx) error { _, err := tx.ExecContext(ctx, w); return err }
		if err := ro.Tx(ctx, exec); !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("C8: %q through Store.Tx of a read-only store: err = %v, want ErrReadOnly", w, err)
		}
		if err := ro.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error { _, err := r.ExecContext(ctx, w); return err }); !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("C8: %q through Store.Read: err = %v, want ErrReadOnly", w, err)
		}
		if _, err := ro.DB().ExecContext(ctx, w); !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("C8: %q through the read-only store's DB(): err = %v, want ErrReadOnly", w, err)
		}
	}
	cdb, err := resonance.Connect(ctx, path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer cdb.Close()
	forConns(t, cdb, 3, func(i int, c *sql.Conn) {
		if _, err := c.ExecContext(ctx, writes[0]); !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("C8: a write through read-only Connect connection %d: err = %v, want ErrReadOnly", i, err)
		}
	})

	rw := openStore(t, path, resonance.Options{})
	if err := rw.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('rw', 'doc')`)
		return err
	}); err != nil {
		t.Fatalf("C8: the file is not writable by a normal store beside a read-only one: %v", err)
	}
	if err := ro.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE id = 'rw'`).Scan(&n)
	}); err != nil || n != 1 {
		t.Errorf("C8: the read-only store does not see the writer's commit: n = %d, err = %v", n, err)
	}

	ctrl := plainDB(t, path, "mode=ro")
	before := openFDs(t)
	count(t, ctrl, `SELECT count(*) FROM nodes`)
	for _, f := range openFDs(t) {
		if f.Target == abs && !slices.Contains(before, f) && int(f.Flags&3) != os.O_RDONLY {
			t.Errorf("C8 control: a mode=ro connection opened the file with flags %o, want O_RDONLY: the probe cannot tell", f.Flags)
		}
	}
}

// TestC9_HealthCheck checks the health report on a healthy store, the
// _health table's bound, the read-only report, and a connection whose
// settings were changed behind the library's back.
func TestC9_HealthCheck(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	h, err := s.Health(ctx)
	if err != nil || len(h.Problems) > 0 || h.Settings["journal_mode"] != "wal" {
		t.Fatalf("C9: health of a fresh store = %+v, %v; want healthy, wal", h, err)
	}
	want := resonance.Health{Settings: map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "synchronous": "1",
		"mmap_size": "0", "temp_store": "2", "foreign_keys": "1", "query_only": "0"}, WriteProbe: "ok"}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("C9: health = %+v, want %+v", h, want)
	}
	for range 14 {
		if _, err := s.Health(ctx); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM _health`); n != 10 {
		t.Errorf("C9: _health holds %d rows after 15 checks, want its 10 newest", n)
	}
	if n := count(t, s.DB(), `SELECT min(id) FROM _health`); n != 6 {
		t.Errorf("C9: the oldest _health row kept is %d, want 6 (the 10 newest)", n)
	}

	ro := openStore(t, path, resonance.Options{ReadOnly: true})
	h, err = ro.Health(ctx)
	if err != nil || len(h.Problems) > 0 || h.Settings["query_only"] != "1" || !strings.Contains(h.WriteProbe, "skipped") {
		t.Errorf("C9: health of a read-only store = %+v, %v; want healthy with the write probe skipped", h, err)
	}

	// A plain connection, not the connector's: a pooled connection of the
	// connector whose settings changed is never handed out again (C7).
	db, err := sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA busy_timeout = 5000; PRAGMA mmap_size = 1048576; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; PRAGMA temp_store = FILE`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	h, err = resonance.CheckHealth(ctx, db)
	if err == nil || len(h.Problems) == 0 {
		t.Fatalf("C9: health of a connection with changed settings = %+v, nil; want an error", h)
	}
	for _, rule := range []string{"C3", "C4", "C5", "C6"} {
		if !strings.Contains(err.Error(), rule) {
			t.Errorf("C9: the health error does not name %s: %v", rule, err)
		}
	}
	if len(h.Problems) != 4 {
		t.Errorf("C9: %d problems reported, want 4: %q", len(h.Problems), h.Problems)
	}
}

// TestC10_MissingPathRefused checks that a path that does not exist is
// refused with an error naming it and the way to create it, and nothing is
// created, unless creation was asked for.
func TestC10_MissingPathRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "missing.db")
	_, err := resonance.Open(ctx, path, resonance.Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "Options.Create") {
		t.Errorf("C10: Open of a missing path: err = %v, want fs.ErrNotExist naming the path and how to create it", err)
	}
	if _, err := resonance.Connect(ctx, path, resonance.Options{}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("C10: Connect of a missing path: err = %v, want fs.ErrNotExist naming the path", err)
	}
	if _, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true, Create: true}); err == nil {
		t.Errorf("C10: a read-only Open created a missing database")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("C10: refused opens created %v", entries)
	}
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		t.Fatalf("C10: Open with Create: %v", err)
	}
	defer s.Close()
	if h, err := s.Health(ctx); err != nil || len(h.Problems) > 0 {
		t.Errorf("C10: the created database is not healthy: %+v, %v", h, err)
	}
}

// TestC11_BadSettingsRefusedBeforeDisk checks that bad options are refused
// with an error naming them before anything is created.
func TestC11_BadSettingsRefusedBeforeDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	existing := t.TempDir()
	tests := []struct {
		name, path string
		o          resonance.Options
		want       string
	}{
		{"NegativeBusyTimeout", filepath.Join(dir, "new", "g.db"), resonance.Options{Create: true, BusyTimeout: -time.Second}, "BusyTimeout"},
		{"SubMillisecondBusyTimeout", filepath.Join(dir, "new", "g.db"), resonance.Options{Create: true, BusyTimeout: time.Microsecond}, "BusyTimeout"},
		{"EmptyPath", "", resonance.Options{Create: true}, "empty database path"},
		{"BlankPath", "   ", resonance.Options{Create: true}, "empty database path"},
		{"DirectoryAsPath", existing, resonance.Options{Create: true}, "is a directory"},
		{"NegativeMaxReaders", filepath.Join(dir, "new", "g.db"), resonance.Options{Create: true, MaxReaders: -1}, "MaxReaders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resonance.Open(ctx, tt.path, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("C11: Open(%q, %+v): err = %v, want one naming %q", tt.path, tt.o, err, tt.want)
			}
			if _, err := resonance.Connect(ctx, tt.path, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("C11: Connect(%q): err = %v, want one naming %q", tt.path, err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("C11: refused opens touched the disk: %v", entries)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 0 {
		t.Errorf("C11: opening a directory created %v in it", entries)
	}
	// Zero means the default.
	db, err := resonance.Connect(ctx, filepath.Join(dir, "zero.db"), resonance.Options{Create: true})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	if got := count(t, db, `PRAGMA busy_timeout`); got != 5000 {
		t.Errorf("C11: BusyTimeout 0 gave busy_timeout %d, want the default 5000", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
