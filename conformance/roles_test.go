package conformance_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/resonance"
)

// roles are the parts a child process can play; see TestHelperProcess.
var roles = map[string]func(childArgs) error{
	"exclusive-holder": roleExclusiveHolder,
	"per-request":      rolePerRequest,
	"hold-write":       roleHoldWrite,
	"read-count":       roleReadCount,
	"writer":           roleWriter,
	"commit-loop":      roleCommitLoop,
	"commits":          roleCommits,
	"migrate-open":     roleMigrateOpen,
	"try-read":         roleTryRead,
	"try-write":        roleTryWrite,
	"check-perms":      roleCheckPerms,
	"ro-reader":        roleRoReader,
}

// roleExclusiveHolder takes the database's lock the hard way: a plain
// connection in locking_mode EXCLUSIVE writes and keeps every lock until it
// closes, so no other connection can even read. It holds for a.Hold.
func roleExclusiveHolder(a childArgs) error {
	db, err := sql.Open("sqlite3", dsn(a.DB, "_busy_timeout=5000"))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA locking_mode = EXCLUSIVE`); err != nil {
		return err
	}
	if _, err := db.Exec(`INSERT OR REPLACE INTO nodes (id, type) VALUES ('held-by-child', 'doc')`); err != nil {
		return err
	}
	say("LOCKED")
	time.Sleep(a.Hold)
	if err := db.Close(); err != nil {
		return err
	}
	say("RELEASED")
	return nil
}

type loopResult struct {
	OK       int64    `json:"ok"`
	Busy     int64    `json:"busy"`
	Other    int64    `json:"other"`
	Errors   []string `json:"errors,omitempty"`
	Commits  int64    `json:"commits,omitempty"`
	Duration string   `json:"duration,omitempty"`
}

func (r *loopResult) fail(err error) {
	if isBusy(err) {
		r.Busy++
	} else {
		r.Other++
	}
	if len(r.Errors) < 5 {
		r.Errors = append(r.Errors, err.Error())
	}
}

// rolePerRequest opens a connection, writes a row, reads a count and
// closes, again and again for a.Duration (at least once): the per-request
// pattern of a server. Every close may be the last one, which checkpoints
// and removes the WAL under an exclusive lock. Mode "plain-busy0" uses a
// plain go-sqlite3 connection without busy timeout instead of the
// connector (the control).
func rolePerRequest(a childArgs) error {
	if err := awaitGo(); err != nil {
		return err
	}
	var r loopResult
	start := time.Now()
	for i := 0; i == 0 || time.Since(start) < a.Duration; i++ {
		if err := perRequest(context.Background(), a.DB, a.Mode, fmt.Sprintf("p%d-%d-%d", os.Getpid(), a.Writer, i)); err != nil {
			r.fail(err)
		} else {
			r.OK++
		}
	}
	return result(r)
}

func perRequest(ctx context.Context, path, mode, id string) error {
	var db *sql.DB
	var err error
	if mode == "plain-busy0" {
		db, err = sql.Open("sqlite3", dsn(path, "_busy_timeout=0"))
	} else {
		db, err = resonance.Connect(ctx, path, resonance.Options{})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if id != "" {
		if _, err := db.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'request')`, id); err != nil {
			return err
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n); err != nil {
		return err
	}
	return db.Close()
}

// roleHoldWrite opens a store, begins a write transaction, writes a row and
// keeps the transaction open until the parent says "commit".
func roleHoldWrite(a childArgs) error {
	ctx := context.Background()
	s, err := resonance.Open(ctx, a.DB, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('uncommitted', 'doc')`); err != nil {
		return err
	}
	say("HOLDING")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "commit" {
		return fmt.Errorf("waiting for commit: %q, %v", line, err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	say("COMMITTED")
	return s.Close()
}

type readResult struct {
	Count   int    `json:"count"`
	Elapsed string `json:"elapsed"`
	Millis  int64  `json:"millis"`
	Err     string `json:"err,omitempty"`
}

// roleReadCount opens a read-only store and counts the nodes in a Read,
// timing the whole of it, open included.
func roleReadCount(a childArgs) error {
	ctx := context.Background()
	start := time.Now()
	var r readResult
	s, err := resonance.Open(ctx, a.DB, resonance.Options{ReadOnly: true})
	if err == nil {
		err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&r.Count)
		})
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
	r.Millis = time.Since(start).Milliseconds()
	r.Elapsed = time.Since(start).String()
	return result(r)
}

// roleWriter runs write transactions that read before they write, in a
// loop for a.Duration, and counts commits and errors. Each commit inserts
// node w<writer>-<n> with n counting from 1, so the parent can check that
// every committed row is present. Mode "plain-deferred" runs the same
// transactions on a plain go-sqlite3 connection with the default deferred
// BEGIN (the control); otherwise Store.Tx.
func roleWriter(a childArgs) error {
	ctx := context.Background()
	var r loopResult
	var tx func(fn func(q querier) error) error
	switch a.Mode {
	case "plain-deferred":
		db, err := sql.Open("sqlite3", dsn(a.DB, "_busy_timeout=5000&_txlock=deferred"))
		if err != nil {
			return err
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		tx = func(fn func(q querier) error) error {
			t, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if err := fn(t); err != nil {
				t.Rollback()
				return err
			}
			return t.Commit()
		}
	default:
		s, err := resonance.Open(ctx, a.DB, resonance.Options{})
		if err != nil {
			return err
		}
		defer s.Close()
		tx = func(fn func(q querier) error) error {
			return s.Tx(ctx, func(ctx context.Context, t *resonance.Tx) error { return fn(t) })
		}
	}
	if err := awaitGo(); err != nil {
		return err
	}
	start := time.Now()
	for time.Since(start) < a.Duration {
		id := fmt.Sprintf("w%d-%06d", a.Writer, r.Commits+1)
		err := tx(func(q querier) error {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE type = 'w4'`).Scan(&n); err != nil {
				return err
			}
			time.Sleep(200 * time.Microsecond) // a little work between the read and the write
			_, err := q.ExecContext(ctx, `INSERT INTO nodes (id, type, title) VALUES (?, 'w4', ?)`, id, fmt.Sprint(n))
			return err
		})
		if err != nil {
			r.fail(err)
			continue
		}
		r.Commits++
	}
	r.Duration = time.Since(start).String()
	return result(r)
}

type querier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// seqID is the id of node number i written by commit-loop run w.
func seqID(w, i int) string { return fmt.Sprintf("seq-%d-%08d", w, i) }

// roleCommitLoop commits transactions 1, 2, 3, … until it is killed. Each
// inserts its sequence number into two tables, and the number is printed
// only after Tx returned nil.
func roleCommitLoop(a childArgs) error {
	ctx := context.Background()
	s, err := resonance.Open(ctx, a.DB, resonance.Options{})
	if err != nil {
		return err
	}
	say("READY")
	for i := 1; ; i++ {
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type, title) VALUES (?, 'seq', ?)`, seqID(a.Writer, i), fmt.Sprint(i)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO history (entity_type, entity_id, action, new_value) VALUES ('node', ?, 'seq', ?)`, seqID(a.Writer, i), fmt.Sprint(i))
			return err
		})
		if err != nil {
			return err
		}
		say("%d", i)
	}
}

// roleCommits commits a.Count small transactions between two marker system
// calls (getpgid of two pids that do not exist) that strace can see.
// Mode "full" commits through a plain connection with synchronous = FULL
// instead (the control: the store would restore its own setting, C7).
func roleCommits(a childArgs) error {
	ctx := context.Background()
	s, err := resonance.Open(ctx, a.DB, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	insert := func(ctx context.Context, x interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, i int) error {
		_, err := x.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'sync')`, fmt.Sprintf("sync-%s-%d-%d", a.Mode, os.Getpid(), i))
		return err
	}
	commit := func(i int) error {
		return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return insert(ctx, tx, i) })
	}
	if a.Mode == "full" {
		plain, err := sql.Open("sqlite3", dsn(a.DB, "_synchronous=FULL&_journal_mode=WAL&_txlock=immediate&_busy_timeout=5000"))
		if err != nil {
			return err
		}
		defer plain.Close()
		plain.SetMaxOpenConns(1)
		commit = func(i int) error {
			tx, err := plain.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if err := insert(ctx, tx, i); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}
		if err := plain.PingContext(ctx); err != nil {
			return err
		}
	}
	syscall.Getpgid(markerBegin)
	for i := range a.Count {
		if err := commit(i); err != nil {
			return err
		}
	}
	syscall.Getpgid(markerEnd)
	return s.Close()
}

const (
	markerBegin = 1999999901
	markerEnd   = 1999999902
)

type migrateResult struct {
	Applied []string `json:"applied"`
	Err     string   `json:"err,omitempty"`
}

// roleMigrateOpen opens a fresh database at the same moment as its
// siblings (after "go") and reports which migrations this process applied.
// Mode "logged" adds loggedMigrations to the embedded schema, as an
// application adds its own; a.Migrations adds a directory of them.
func roleMigrateOpen(a childArgs) error {
	var r migrateResult
	h := &captureHandler{}
	o := resonance.Options{Create: true, Logger: slog.New(h)}
	if a.Mode == "logged" {
		o.Migrations = []fs.FS{loggedMigrations}
	}
	if a.Migrations != "" {
		o.Migrations = append(o.Migrations, resonance.MigrationsDir(a.Migrations))
	}
	if err := awaitGo(); err != nil {
		return err
	}
	s, err := resonance.Open(context.Background(), a.DB, o)
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		r.Err = err.Error()
	}
	r.Applied = h.attrs("resonance: migration applied", "file")
	return result(r)
}

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

// attrs returns attribute key of every record with message msg.
func (h *captureHandler) attrs(msg, key string) []string {
	var out []string
	for _, r := range h.records() {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	sort.Strings(out)
	return out
}

func (h *captureHandler) count(msg string) int {
	n := 0
	for _, r := range h.records() {
		if r.Message == msg {
			n++
		}
	}
	return n
}

type tryResult struct {
	UID   int    `json:"uid"`
	Count int    `json:"count"`
	Err   string `json:"err,omitempty"`
	// ReadOnly reports errors.Is(err, resonance.ErrReadOnly).
	ReadOnly bool     `json:"read_only,omitempty"`
	Files    []string `json:"files,omitempty"` // the directory's entries while the store was open
	After    []string `json:"after,omitempty"` // and after it closed
}

// roleTryRead tries to read the database three ways, as whoever runs it:
// through the library's connector (read-only pool), and through plain
// go-sqlite3 connections with mode=ro and mode=rw.
func roleTryRead(a childArgs) error {
	ctx := context.Background()
	out := map[string]tryResult{}
	do := func(name string, open func() (*sql.DB, error)) {
		r := tryResult{UID: os.Geteuid()}
		db, err := open()
		if err == nil {
			err = db.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&r.Count)
			db.Close()
		}
		if err != nil {
			r.Err, r.ReadOnly = err.Error(), errors.Is(err, resonance.ErrReadOnly)
		}
		out[name] = r
	}
	do("connector", func() (*sql.DB, error) {
		return resonance.Connect(ctx, a.DB, resonance.Options{ReadOnly: true})
	})
	do("mode=ro", func() (*sql.DB, error) { return sql.Open("sqlite3", dsn(a.DB, "mode=ro")) })
	do("mode=rw", func() (*sql.DB, error) { return sql.Open("sqlite3", dsn(a.DB, "mode=rw")) })
	return result(out)
}

// roleTryWrite opens a read-write store as whoever runs it, commits a row,
// and lists the directory while the store is open and after it closed.
func roleTryWrite(a childArgs) error {
	ctx := context.Background()
	r := tryResult{UID: os.Geteuid()}
	s, err := resonance.Open(ctx, a.DB, resonance.Options{})
	if err == nil {
		err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'doc')`, fmt.Sprintf("by-uid-%d", os.Geteuid()))
			return err
		})
		r.Files = listDir(a.DB)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		r.After = listDir(a.DB)
	}
	if err != nil {
		r.Err, r.ReadOnly = err.Error(), errors.Is(err, resonance.ErrReadOnly)
	}
	return result(r)
}

// roleCheckPerms prints what conformance.CheckPermissions finds for the
// user running it.
func roleCheckPerms(a childArgs) error {
	return result(struct {
		UID      int                   `json:"uid"`
		Findings []conformance.Finding `json:"findings"`
	}{os.Geteuid(), conformance.CheckPermissions(a.DB)})
}

type roReaderResult struct {
	Reads  int            `json:"reads"`
	Errors map[string]int `json:"errors"`
	Last   int            `json:"last"`
}

// roleRoReader reads through a plain go-sqlite3 mode=ro connection, the
// seed's "readonly: true", for a.Duration while the parent writes.
func roleRoReader(a childArgs) error {
	db, err := sql.Open("sqlite3", dsn(a.DB, "mode=ro"))
	if err != nil {
		return err
	}
	defer db.Close()
	r := roReaderResult{Errors: map[string]int{}}
	if err := awaitGo(); err != nil {
		return err
	}
	start := time.Now()
	for time.Since(start) < a.Duration {
		var n, sum int
		err := db.QueryRow(`SELECT count(*), coalesce(sum(length(title)), 0) FROM nodes`).Scan(&n, &sum)
		if err != nil {
			r.Errors[err.Error()]++
			continue
		}
		if n < r.Last {
			r.Errors[fmt.Sprintf("count went back from %d to %d", r.Last, n)]++
		}
		r.Last = n
		r.Reads++
	}
	return result(r)
}

func listDir(dbPath string) []string {
	entries, _ := os.ReadDir(dirOf(dbPath))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
