package resonance_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/schema"
)

// appMigrations is an application's schema: one table of its own, with a
// foreign key to the library's nodes.
var appMigrations = fstest.MapFS{
	"29000101000000_create_notes.sql": {Data: []byte("-- migrate:up\nCREATE TABLE notes (node_id TEXT NOT NULL REFERENCES nodes(id), body TEXT NOT NULL);\n-- migrate:down\nDROP TABLE notes;\n")},
}

func libraryVersions(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(schema.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, n := range names {
		v, _, _ := strings.Cut(n, "_")
		vs = append(vs, v)
	}
	return vs
}

func TestOpen_ApplicationMigrationsAddToTheLibrarys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{appMigrations}})
	ms, err := resonance.MigrationStatusOf(ctx, s.Path(), resonance.Options{Migrations: []fs.FS{appMigrations}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		if !m.Applied || m.File == "" {
			t.Errorf("migration %+v: want applied and known", m)
		}
		got = append(got, m.Version)
	}
	want := append(libraryVersions(t), "29000101000000")
	if !slices.Equal(got, want) {
		t.Errorf("versions = %q, want the library's and the application's %q", got, want)
	}
	// The application's table sits beside the graph, with the foreign key
	// enforced (C6).
	err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (node_id, body) VALUES ('missing', 'x')`)
		return err
	})
	if err == nil {
		t.Error("a note for a missing node was accepted: foreign keys are off")
	}
	s.Close()

	// Without the application's migrations the database is refused (M4),
	// the error naming the version and how to pass the migrations.
	_, err = resonance.Open(ctx, path, resonance.Options{})
	if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "29000101000000") || !strings.Contains(err.Error(), "Options.Migrations") {
		t.Errorf("open without the application's migrations: err = %v, want ErrSchemaMismatch naming the version and Options.Migrations", err)
	}
}

func TestOpen_ApplicationMigrationVersionCollision(t *testing.T) {
	ctx := context.Background()
	lib := libraryVersions(t)[0]
	dir := t.TempDir()
	app := filepath.Join(dir, "migrations")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, lib+"_mine.sql"), []byte("-- migrate:up\nCREATE TABLE mine (x);\n-- migrate:down\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.db")
	_, err := resonance.Open(ctx, path, resonance.Options{Create: true, Migrations: []fs.FS{resonance.MigrationsDir(app)}})
	if !errors.Is(err, resonance.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	libFile, _ := fs.Glob(schema.FS, lib+"_*.sql")
	for _, want := range []string{libFile[0], lib + "_mine.sql", app, "schema/"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %q", err, want)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused options created %s", path)
	}

	// A copy of the library's own migrations (resonance schema DIR) given
	// as the application's is named as such, not as a version to change.
	_, err = resonance.Open(ctx, path, resonance.Options{Create: true, Migrations: []fs.FS{schema.FS}})
	if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), "copy of the library's own migrations") {
		t.Errorf("the library's own migrations given as the application's: err = %v, want it named as a copy of ours", err)
	}

	// Two of the application's directories may not share a version either.
	other := fstest.MapFS{"29000101000000_other.sql": {Data: []byte("-- migrate:up\n-- migrate:down\n")}}
	_, err = resonance.Open(ctx, path, resonance.Options{Create: true, Migrations: []fs.FS{appMigrations, other}})
	if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), "Options.Migrations[1]") || !strings.Contains(err.Error(), "29000101000000_create_notes.sql") {
		t.Errorf("two application directories with one version: err = %v", err)
	}

	// An FS with no migrations at its root is a mistake, such as an
	// embed.FS not narrowed with fs.Sub.
	nested := fstest.MapFS{"migrations/29000101000000_a.sql": {Data: []byte("-- migrate:up\n-- migrate:down\n")}}
	_, err = resonance.Open(ctx, path, resonance.Options{Create: true, Migrations: []fs.FS{nested}})
	if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), "fs.Sub") {
		t.Errorf("an FS without migrations at its root: err = %v, want ErrInvalid suggesting fs.Sub", err)
	}
}

func TestOpen_ApplicationMigrationFailureChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{appMigrations}})
	s.Close()
	bad := fstest.MapFS{
		"29000101000000_create_notes.sql": appMigrations["29000101000000_create_notes.sql"],
		"29000102000000_bad.sql":          {Data: []byte("-- migrate:up\nCREATE TABLE b (x);\nINSERT INTO nope VALUES (1);\n-- migrate:down\n")},
	}
	_, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{bad}})
	if err == nil || !strings.Contains(err.Error(), "29000102000000_bad.sql") {
		t.Fatalf("err = %v, want the failing migration named", err)
	}
	s = openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{appMigrations}})
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table b of the failed migration: count %d, %v; want none", n, err)
	}
}

func TestConnectHook_RegisteredFunctionInReadAndTx(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	hook := func(c *sqlite3.SQLiteConn) error {
		calls.Add(1)
		return c.RegisterFunc("shout", func(s string) string { return strings.ToUpper(s) + "!" }, true)
	}
	s := openStore(t, resonance.Options{ConnectHook: hook, Migrations: []fs.FS{appMigrations}})
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "n1", Type: "doc", Title: "one"}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (node_id, body) VALUES ('n1', shout('hello'))`)
		return err
	})
	if err != nil {
		t.Fatalf("Tx using the hook's function: %v", err)
	}
	var body, title string
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		n, err := tx.GetNode(ctx, "n1")
		if err != nil {
			return err
		}
		title = n.Title
		return tx.QueryRowContext(ctx, `SELECT shout(body) FROM notes WHERE node_id = 'n1'`).Scan(&body)
	})
	if err != nil {
		t.Fatalf("Read using the hook's function: %v", err)
	}
	if body != "HELLO!!" || title != "one" {
		t.Errorf("read back body %q, title %q; want HELLO!! and one", body, title)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("the hook ran on %d connections, want the writer's and a reader's at least", n)
	}
}

func TestConnectHook_ChangedSettingFailsTheConnection(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		rule, stmt string
		o          resonance.Options
	}{
		{"C4", "PRAGMA mmap_size = 1048576", resonance.Options{}},
		{"C1", "PRAGMA busy_timeout = 0", resonance.Options{}},
		{"C6", "PRAGMA foreign_keys = OFF", resonance.Options{}},
		{"C8", "PRAGMA query_only = OFF", resonance.Options{ReadOnly: true}},
		{"C8", "PRAGMA query_only = ON", resonance.Options{}},
		{"C1", "PRAGMA locking_mode = EXCLUSIVE", resonance.Options{}},
		{"C7", "BEGIN", resonance.Options{}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.db")
			s := openStoreAt(t, path, resonance.Options{Create: true})
			s.Close()
			o := tc.o
			o.ConnectHook = func(c *sqlite3.SQLiteConn) error {
				_, err := c.Exec(tc.stmt, nil)
				return err
			}
			_, err := resonance.Open(ctx, path, o)
			if err == nil || !strings.Contains(err.Error(), tc.rule+" ") || !strings.Contains(err.Error(), "ConnectHook") {
				t.Errorf("open with a hook running %q: err = %v, want a failure naming %s and the hook", tc.stmt, err, tc.rule)
			}
			db, err := resonance.Connect(ctx, path, o)
			if err == nil {
				db.Close()
				t.Errorf("Connect with a hook running %q succeeded", tc.stmt)
			}
		})
	}
	t.Run("HookError", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := resonance.Open(ctx, filepath.Join(t.TempDir(), "e.db"), resonance.Options{Create: true,
			ConnectHook: func(*sqlite3.SQLiteConn) error { return boom }})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "A4") {
			t.Errorf("err = %v, want the hook's error, wrapped naming A4", err)
		}
	})
}

// TestOpen_UnknownVersionRecordedMidwayStops: a version this binary does
// not know, recorded while the migrations run (here by a migration
// itself, as another process's newer binary would between two of them),
// stops the next migration (M4), though the versions are not read again
// while their count is what this process expects.
func TestOpen_UnknownVersionRecordedMidwayStops(t *testing.T) {
	app := fstest.MapFS{
		"29000101000000_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE app_a (x);\nINSERT INTO schema_migrations (version) VALUES ('39990101000000');\n-- migrate:down\n")},
		"29000101000100_b.sql": {Data: []byte("-- migrate:up\nCREATE TABLE app_b (x);\n-- migrate:down\n")},
	}
	path := filepath.Join(t.TempDir(), "g.db")
	_, err := resonance.Open(t.Context(), path, resonance.Options{Create: true, Migrations: []fs.FS{app}})
	if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "39990101000000") {
		t.Fatalf("M4: Open = %v; want ErrSchemaMismatch naming 39990101000000", err)
	}
	conn, err := resonance.Connect(t.Context(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b int
	if err := conn.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'app_b'`).Scan(&b); err != nil || b != 0 {
		t.Errorf("M4: the migration after the unknown version ran (app_b: %d, %v)", b, err)
	}
}

// TestConnectHook_ErrorsNameTheirCause (A4, C8): a hook that writes on a
// read-only store (BEGIN IMMEDIATE, a TEMP trigger) is told the connection
// is query_only, not that files are unwritable; an ATTACH in such a hook
// creates no file; a hook that closes its connection is told so; a hook's
// journal_mode = DELETE is refused and the file is left in WAL mode.
func TestConnectHook_ErrorsNameTheirCause(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		readOnly bool
		hook     func(dir string) func(*sqlite3.SQLiteConn) error
		want     string
	}{
		{"BeginImmediateReadOnly", true, execHook("BEGIN IMMEDIATE"), "query_only"},
		{"TempTriggerReadOnly", true, execHook("CREATE TEMP TRIGGER t AFTER INSERT ON main.nodes BEGIN SELECT 1; END"), "query_only"},
		{"AttachReadOnly", true, func(dir string) func(*sqlite3.SQLiteConn) error {
			return execHook("ATTACH DATABASE '" + filepath.Join(dir, "attached.db") + "' AS a")(dir)
		}, "attaches nothing"},
		{"ClosesItsConnection", false, func(string) func(*sqlite3.SQLiteConn) error {
			return func(c *sqlite3.SQLiteConn) error { return c.Close() }
		}, "closed the connection"},
		{"JournalModeDelete", false, execHook("PRAGMA journal_mode = DELETE"), "C2 journal_mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "h.db")
			s := openStoreAt(t, path, resonance.Options{Create: true})
			s.Close()
			_, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: tc.readOnly, ConnectHook: tc.hook(dir)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ConnectHook") ||
				strings.Contains(err.Error(), "not writable") || strings.Contains(err.Error(), "left a transaction open") {
				t.Errorf("Open = %v, want the cause %q and the hook named", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "attached.db")); err == nil {
				t.Errorf("the hook's ATTACH on a read-only store created its file")
			}
			header := make([]byte, 20)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.ReadAt(header, 0); err != nil {
				t.Fatal(err)
			}
			if header[18] != 2 || header[19] != 2 {
				t.Errorf("file header read/write versions %d/%d after the hook, want 2/2 (WAL)", header[18], header[19])
			}
		})
	}
}

func execHook(stmt string) func(string) func(*sqlite3.SQLiteConn) error {
	return func(string) func(*sqlite3.SQLiteConn) error {
		return func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(stmt, nil)
			return err
		}
	}
}
