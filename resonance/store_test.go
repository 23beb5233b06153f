package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/schema"
)

// openStore opens a new store in a temporary directory and closes it when
// the test ends.
func openStore(t *testing.T, o resonance.Options) *resonance.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "graph.db"), o)
}

func openStoreAt(t *testing.T, path string, o resonance.Options) *resonance.Store {
	t.Helper()
	o.Create = o.Create || !o.ReadOnly
	s, err := resonance.Open(context.Background(), path, o)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestConnect_EveryConnectionHardened(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := resonance.Connect(ctx, path, resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 16
	db.SetMaxOpenConns(n)
	conns := make([]*sql.Conn, n)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	type settings struct {
		Busy, Sync, Mmap, Temp, FK int64
		Mode                       string
	}
	want := settings{Busy: 5000, Sync: 1, Mmap: 0, Temp: 2, FK: 1, Mode: "wal"}
	for i, c := range conns {
		var got settings
		err := c.QueryRowContext(ctx, `SELECT (SELECT * FROM pragma_busy_timeout), (SELECT * FROM pragma_synchronous),
			(SELECT * FROM pragma_temp_store), (SELECT * FROM pragma_foreign_keys),
			(SELECT * FROM pragma_journal_mode)`).Scan(&got.Busy, &got.Sync, &got.Temp, &got.FK, &got.Mode)
		if err == nil {
			err = c.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&got.Mmap)
		}
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("connection %d settings (-want +got):\n%s", i, diff)
		}
	}
	if got := db.Stats().OpenConnections; got != n {
		t.Errorf("open connections = %d, want %d held at once", got, n)
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestConnect_RefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		o    resonance.Options
		want string
	}{
		{"empty path", "", resonance.Options{Create: true}, "empty database path"},
		{"negative busy timeout", filepath.Join(dir, "x.db"), resonance.Options{Create: true, BusyTimeout: -time.Second}, "BusyTimeout"},
		{"directory", dir, resonance.Options{Create: true}, "is a directory"},
		{"memory", ":memory:", resonance.Options{Create: true}, "in-memory"},
		{"missing file", filepath.Join(dir, "missing.db"), resonance.Options{}, "Options.Create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resonance.Open(context.Background(), tt.path, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("refused opens touched the disk: %v", entries)
	}
	if _, err := resonance.Open(context.Background(), filepath.Join(dir, "missing.db"), resonance.Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestOpen_CreatesWithoutWorldWrite(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "g.db")
	s := openStoreAt(t, path, resonance.Options{Create: true})
	// Hold a reader open so -wal and -shm exist.
	if err := s.Read(context.Background(), func(ctx context.Context, tx *resonance.ReadTx) error {
		for _, p := range []string{dir, filepath.Dir(dir), path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o002 != 0 {
				t.Errorf("%s is world-writable: %v", p, fi.Mode())
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStore_ReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	rw := openStoreAt(t, path, resonance.Options{Create: true})
	if _, err := rw.DB().Exec(`INSERT INTO nodes (id, type) VALUES ('a', 'doc')`); err != nil {
		t.Fatal(err)
	}
	ro := openStoreAt(t, path, resonance.Options{ReadOnly: true})
	var n int
	if err := ro.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n)
	}); err != nil || n != 1 {
		t.Fatalf("read through read-only store: n=%d err=%v", n, err)
	}
	writes := []string{
		`INSERT INTO nodes (id, type) VALUES ('b', 'doc')`,
		`UPDATE nodes SET title = 'x'`,
		`DELETE FROM nodes`,
		`CREATE TABLE t (x)`,
	}
	for _, w := range writes {
		err := ro.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, w)
			return err
		})
		if !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("Tx %q on read-only store: err = %v, want ErrReadOnly", w, err)
		}
		err = ro.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
			_, err := tx.ExecContext(ctx, w)
			return err
		})
		if !errors.Is(err, resonance.ErrReadOnly) {
			t.Errorf("Read %q: err = %v, want ErrReadOnly", w, err)
		}
	}
	// A Tx that only reads works on a read-only store.
	err := ro.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.GetNode(ctx, "a")
		return err
	})
	if err != nil {
		t.Errorf("a Tx that only reads, on a read-only store: %v", err)
	}
	if _, err := rw.DB().Exec(`INSERT INTO nodes (id, type) VALUES ('c', 'doc')`); err != nil {
		t.Fatalf("normal store cannot write after read-only store used the file: %v", err)
	}
	if got := countRows(t, rw.DB(), "nodes"); got != 2 {
		t.Errorf("nodes = %d, want 2", got)
	}
}

var errBoom = errors.New("boom")

func TestStore_Tx(t *testing.T) {
	ctx := context.Background()
	insert := func(id string) func(context.Context, *resonance.Tx) error {
		return func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'doc')`, id)
			return err
		}
	}
	exists := func(t *testing.T, s *resonance.Store, id string) bool {
		t.Helper()
		var n int
		if err := s.DB().QueryRow(`SELECT count(*) FROM nodes WHERE id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	t.Run("CommitsOnNil", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		if err := s.Tx(ctx, insert("a")); err != nil {
			t.Fatal(err)
		}
		if !exists(t, s, "a") {
			t.Error("committed row missing")
		}
	})
	t.Run("RollsBackOnError", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insert("a")(ctx, tx); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want errBoom", err)
		}
		if exists(t, s, "a") {
			t.Error("row of a failed transaction was committed")
		}
	})
	t.Run("RollsBackOnPanic", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Errorf("recovered %v, want the original panic", p)
				}
			}()
			s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				insert("a")(ctx, tx)
				panic("kaboom")
			})
		}()
		if exists(t, s, "a") {
			t.Error("row of a panicking transaction was committed")
		}
		// The writer is free again.
		if err := s.Tx(ctx, insert("b")); err != nil {
			t.Fatalf("Tx after panic: %v", err)
		}
	})
	t.Run("RollsBackOnCancel", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		cctx, cancel := context.WithCancel(ctx)
		err := s.Tx(cctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insert("a")(ctx, tx); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if exists(t, s, "a") {
			t.Error("row of a cancelled transaction was committed")
		}
	})
	t.Run("RefusesNested", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		var inner error
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := insert("outer")(ctx, tx); err != nil {
				return err
			}
			inner = s.Tx(ctx, insert("inner"))
			return errBoom
		})
		if !errors.Is(inner, resonance.ErrNestedTx) {
			t.Fatalf("nested Tx err = %v, want ErrNestedTx", inner)
		}
		if !errors.Is(err, errBoom) {
			t.Fatalf("outer err = %v", err)
		}
		if exists(t, s, "outer") || exists(t, s, "inner") {
			t.Error("nested Tx committed work of the rolled-back outer transaction")
		}
	})
	t.Run("ExplicitBeginCommit", func(t *testing.T) {
		s := openStore(t, resonance.Options{})
		etx, err := s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := insert("a")(ctx, etx.Tx); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(etx.Context(), insert("b")); !errors.Is(err, resonance.ErrNestedTx) {
			t.Errorf("Tx with the context of an open explicit tx: %v, want ErrNestedTx", err)
		}
		if err := etx.Commit(); err != nil {
			t.Fatal(err)
		}
		if !exists(t, s, "a") {
			t.Error("explicit commit lost the row")
		}
		etx, err = s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		insert("c")(ctx, etx.Tx)
		if err := etx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if exists(t, s, "c") {
			t.Error("explicit rollback kept the row")
		}
	})
}

func TestStore_TwoStoresWriteWithoutBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	a := openStoreAt(t, path, resonance.Options{Create: true})
	b := openStoreAt(t, path, resonance.Options{})
	const each = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for si, s := range []*resonance.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES (?, 'doc')`,
						string(rune('a'+si))+"-"+time.Now().Format("150405.000000000")+"-"+string(rune(i)))
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write failed: %v (busy: %v)", err, errors.Is(err, resonance.ErrBusy))
	}
	if got := countRows(t, a.DB(), "nodes"); got != 2*each {
		t.Errorf("nodes = %d, want %d", got, 2*each)
	}
}

func TestOpen_Migrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openStoreAt(t, path, resonance.Options{Create: true})
	ms, err := resonance.MigrationStatusOf(ctx, s.Path(), resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := fs.Glob(schema.FS, "*.sql")
	if len(ms) != len(entries) || len(ms) < 3 {
		t.Fatalf("migrations = %+v, want %d", ms, len(entries))
	}
	for _, m := range ms {
		if !m.Applied || m.File == "" {
			t.Errorf("migration %+v not applied", m)
		}
	}
	s.Close()

	// Reopening applies nothing and writes no backup.
	s = openStoreAt(t, path, resonance.Options{})
	if got := countRows(t, s.DB(), "schema_migrations"); got != len(entries) {
		t.Errorf("schema_migrations rows = %d, want %d", got, len(entries))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "backups")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reopen without pending migrations wrote a backup dir: %v", err)
	}
	if _, err := s.DB().Exec(`INSERT INTO schema_migrations (version) VALUES ('29990101000000')`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = resonance.Open(ctx, path, resonance.Options{})
	if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "29990101000000") {
		t.Fatalf("open of newer database: err = %v, want ErrSchemaMismatch naming the version", err)
	}
	after, _ := os.ReadFile(path)
	if !cmp.Equal(before, after) {
		t.Error("refused database was modified")
	}
}

func TestOpen_FailingMigrationChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	good := fstest.MapFS{
		"001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")},
	}
	s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{good}})
	s.Close()
	bad := fstest.MapFS{
		"001_a.sql": good["001_a.sql"],
		"002_b.sql": {Data: []byte("-- migrate:up\nCREATE TABLE b (x);\nINSERT INTO a VALUES (1);\nINSERT INTO nope VALUES (1);\n-- migrate:down\nDROP TABLE b;\n")},
	}
	_, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{bad}})
	if err == nil || !strings.Contains(err.Error(), "002_b.sql") {
		t.Fatalf("err = %v, want failure naming 002_b.sql", err)
	}
	s = openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{good}})
	var tables []string
	rows, _ := s.DB().Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b') ORDER BY name`)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"a"}, tables); diff != "" {
		t.Errorf("tables after failed migration (-want +got):\n%s", diff)
	}
	if got := countRows(t, s.DB(), "a"); got != 0 {
		t.Errorf("a has %d rows from the failed migration", got)
	}
}

func TestOpen_BacksUpBeforeMigrating(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.db")
	m1 := fstest.MapFS{"29000101000001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")}}
	s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{m1}})
	s.DB().Exec(`INSERT INTO a VALUES (42)`)
	s.Close()
	ms := fstest.MapFS{"29000101000001_a.sql": m1["29000101000001_a.sql"]}
	for i := 2; i <= 10; i++ {
		v := fmt.Sprintf("290001010000%02d", i)
		ms[v+"_m.sql"] = &fstest.MapFile{Data: []byte("-- migrate:up\nCREATE TABLE t" + v + " (x);\n-- migrate:down\n")}
		s := openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{ms}})
		s.Close()
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "backups", "b-*.db"))
	if len(backups) != 7 {
		t.Fatalf("backups = %d (%v), want the newest 7", len(backups), backups)
	}
	newest := backups[len(backups)-1]
	if !strings.HasSuffix(newest, "-v29000101000009.db") {
		t.Errorf("newest backup %s, want one taken at v009", newest)
	}
	// The backup is a consistent database holding the data of its time.
	db, err := resonance.Connect(context.Background(), newest, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var x int
	if err := db.QueryRow(`SELECT x FROM a`).Scan(&x); err != nil || x != 42 {
		t.Errorf("backup row = %d, %v; want 42", x, err)
	}
	if got, want := countRows(t, db, "schema_migrations"), len(libraryVersions(t))+9; got != want {
		t.Errorf("backup at v009 records %d migrations, want %d", got, want)
	}
}
