package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
)

// dsn is a file: URI for a plain go-sqlite3 connection to path, the path
// escaped by net/url as the connector does.
func dsn(path, query string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return (&url.URL{Scheme: "file", Path: abs, RawQuery: query}).String()
}

func dirOf(path string) string { return filepath.Dir(path) }

// isBusy reports whether err is a lock timeout: resonance.ErrBusy or the
// driver's SQLITE_BUSY / SQLITE_LOCKED (extended codes included).
func isBusy(err error) bool {
	if errors.Is(err, resonance.ErrBusy) {
		return true
	}
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// newDB creates a database with the embedded schema in a fresh temporary
// directory and returns its path; no connection stays open.
func newDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "graph.db")
	createDB(t, path)
	return path
}

func createDB(t testing.TB, path string) {
	t.Helper()
	s, err := resonance.Open(context.Background(), path, resonance.Options{Create: true})
	if err != nil {
		t.Fatalf("%s: creating %s: %v", rule(t), path, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: closing %s: %v", rule(t), path, err)
	}
}

// openStore opens a store and closes it when the test ends.
func openStore(t testing.TB, path string, o resonance.Options) *resonance.Store {
	t.Helper()
	s, err := resonance.Open(context.Background(), path, o)
	if err != nil {
		t.Fatalf("%s: Open(%q): %v", rule(t), path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plainDB opens a plain go-sqlite3 pool on path, outside the library.
func plainDB(t testing.TB, path, query string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, query))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// integrity runs PRAGMA integrity_check on path through a plain connection
// and returns its rows joined; "ok" for a sound database.
func integrity(t testing.TB, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, "mode=rw"))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		return "integrity_check failed: " + err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return strings.Join(out, "; ")
}

type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// count runs a query that returns one integer.
func count(t testing.TB, q rowQuerier, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", rule(t), query, err)
	}
	return n
}

// settings are the per-connection settings of rules C1–C8 as one
// connection reports them.
type settings struct {
	BusyTimeout    int64
	JournalMode    string
	Synchronous    int64
	MmapSize       int64
	TempStore      int64
	ForeignKeys    int64
	QueryOnly      int64
	AutoCheckpoint int64
}

func readSettings(ctx context.Context, q rowQuerier) (settings, error) {
	var s settings
	err := q.QueryRowContext(ctx, `SELECT (SELECT * FROM pragma_busy_timeout), (SELECT * FROM pragma_journal_mode),
		(SELECT * FROM pragma_synchronous), (SELECT * FROM pragma_temp_store),
		(SELECT * FROM pragma_foreign_keys), (SELECT * FROM pragma_query_only)`).Scan(
		&s.BusyTimeout, &s.JournalMode, &s.Synchronous, &s.TempStore, &s.ForeignKeys, &s.QueryOnly)
	if err == nil {
		err = q.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&s.MmapSize)
	}
	if err == nil {
		err = q.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&s.AutoCheckpoint)
	}
	s.JournalMode = strings.ToLower(s.JournalMode)
	return s, err
}

// checkSettings reports, naming the rule, every setting of s that is off.
func checkSettings(t testing.TB, what string, s settings, readOnly bool) {
	t.Helper()
	if s.BusyTimeout != 5000 {
		t.Errorf("C1: %s: busy_timeout = %d, want 5000", what, s.BusyTimeout)
	}
	if s.JournalMode != "wal" {
		t.Errorf("C2: %s: journal_mode = %q, want wal", what, s.JournalMode)
	}
	if s.Synchronous != 1 {
		t.Errorf("C3: %s: synchronous = %d, want 1 (NORMAL)", what, s.Synchronous)
	}
	if s.MmapSize != 0 {
		t.Errorf("C4: %s: mmap_size = %d, want 0", what, s.MmapSize)
	}
	if s.TempStore != 2 {
		t.Errorf("C5: %s: temp_store = %d, want 2 (MEMORY)", what, s.TempStore)
	}
	if s.ForeignKeys != 1 {
		t.Errorf("C6: %s: foreign_keys = %d, want 1", what, s.ForeignKeys)
	}
	if want := map[bool]int64{true: 1, false: 0}[readOnly]; s.QueryOnly != want {
		t.Errorf("C8: %s: query_only = %d, want %d", what, s.QueryOnly, want)
	}
}

// headerMode returns the file format bytes 18 and 19 of the database
// header: 2 and 2 in WAL mode, 1 and 1 in rollback-journal mode.
func headerMode(t testing.TB, path string) (byte, byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer f.Close()
	var h [20]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	return h[18], h[19]
}

// fd is one file descriptor of this process.
type fd struct {
	Target string // what the descriptor refers to
	Flags  int64  // open flags, from /proc/self/fdinfo
}

// openFDs lists this process's file descriptors.
func openFDs(t testing.TB) []fd {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd (needs Linux procfs): %v", err)
	}
	var out []fd
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		f := fd{Target: target}
		if info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name()); err == nil {
			for _, line := range strings.Split(string(info), "\n") {
				if v, ok := strings.CutPrefix(line, "flags:"); ok {
					f.Flags, _ = strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// mappings counts the memory mappings of this process whose file is
// exactly path.
func mappings(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("cannot read /proc/self/maps (needs Linux procfs): %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, " "+path) {
			n++
		}
	}
	return n
}

// loggedMigrations are migrations that leave a trace of every time they
// run, so the suite can count how often each was applied (M2). 002 is slow
// enough for concurrent openers to overlap.
var loggedMigrations = fstest.MapFS{
	"001_log.sql": {Data: []byte("-- migrate:up\nCREATE TABLE migration_log (version TEXT NOT NULL);\nINSERT INTO migration_log VALUES ('001');\n-- migrate:down\nDROP TABLE migration_log;\n")},
	"002_fill.sql": {Data: []byte("-- migrate:up\nCREATE TABLE filler (x);\n" +
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO filler SELECT randomblob(64) FROM c;\n" +
		"INSERT INTO migration_log VALUES ('002');\n-- migrate:down\nDROP TABLE filler;\n")},
	"003_more.sql": {Data: []byte("-- migrate:up\nCREATE TABLE more (x);\nINSERT INTO migration_log VALUES ('003');\n-- migrate:down\nDROP TABLE more;\n")},
}

// rule returns the rule a test is about, from its name (TestC4_… → C4), so
// that setup failures name it too.
func rule(t testing.TB) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(t.Name(), "Test"), "_")
	return id
}
