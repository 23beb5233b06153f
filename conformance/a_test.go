package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/resonance"
)

// migrateByHand brings a new database at path to the given migrations of
// fsys only, as an older release would have left it: each one's up
// section run and its version recorded in dbmate's table.
func migrateByHand(t testing.TB, path string, fsys fs.FS, files ...string) {
	t.Helper()
	db := plainDB(t, path, "mode=rwc&_journal_mode=WAL")
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) primary key)`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	for _, f := range files {
		m := dbmate.Migration{FileName: f, FilePath: f, FS: fsys, Version: versionOf(f)}
		parsed, err := m.Parse()
		if err != nil {
			t.Fatalf("%s: %s: %v", rule(t), f, err)
		}
		if _, err := db.Exec(parsed.Up); err != nil {
			t.Fatalf("%s: %s: %v", rule(t), f, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version) VALUES (?)`, versionOf(f)); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
	db.Close()
}

// appMigrationFiles are an application's migrations: a table of its own
// referring to the library's nodes, and one slow enough for concurrent
// openers to overlap. Each leaves a row in app_log every time it runs.
var appMigrationFiles = map[string]string{
	"29000101000000_create_notes.sql": "-- migrate:up\n" +
		"CREATE TABLE app_log (version TEXT NOT NULL);\n" +
		"CREATE TABLE notes (node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, body TEXT NOT NULL);\n" +
		"INSERT INTO app_log VALUES ('29000101000000');\n" +
		"-- migrate:down\nDROP TABLE notes;\nDROP TABLE app_log;\n",
	"29000102000000_fill.sql": "-- migrate:up\n" +
		"CREATE TABLE app_filler (x);\n" +
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO app_filler SELECT randomblob(64) FROM c;\n" +
		"INSERT INTO app_log VALUES ('29000102000000');\n" +
		"-- migrate:down\nDROP TABLE app_filler;\n",
}

// appMigrationsDir writes appMigrationFiles into a new directory.
func appMigrationsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "migrations")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	for name, body := range appMigrationFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
	return dir
}

func appFiles() []string {
	var fs []string
	for name := range appMigrationFiles {
		fs = append(fs, name)
	}
	slices.Sort(fs)
	return fs
}

// newAppDB creates a database with the library's and the application's
// migrations and returns its path and the migrations directory.
func newAppDB(t testing.TB) (path, dir string) {
	t.Helper()
	dir = appMigrationsDir(t)
	path = filepath.Join(t.TempDir(), "app.db")
	s := openStore(t, path, resonance.Options{Create: true, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "n1", Type: "doc"}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (node_id, body) VALUES ('n1', 'hello')`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	return path, dir
}

// TestA1_ConcurrentFirstOpenAppliesApplicationMigrationsOnce starts three
// processes that open the same fresh database at the same moment with the
// application's migrations directory, twice: all succeed, and each
// migration, the library's and the application's, is applied exactly once
// (M2), in one run recorded in schema_migrations.
func TestA1_ConcurrentFirstOpenAppliesApplicationMigrationsOnce(t *testing.T) {
	dir := appMigrationsDir(t)
	all := append(embeddedMigrations(t), appFiles()...)
	slices.Sort(all)
	for round := range 2 {
		t.Run(fmt.Sprint(round+1), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fresh.db")
			var ss []spawn
			for range 3 {
				ss = append(ss, spawn{role: "migrate-open", args: childArgs{DB: path, Migrations: dir}})
			}
			applied := map[string]int{}
			for i, p := range startTogether(t, ss...) {
				var r migrateResult
				p.result(&r, 60*time.Second)
				if r.Err != "" {
					t.Errorf("A1: process %d opening a fresh database with the application's migrations failed: %s", i+1, r.Err)
				}
				for _, f := range r.Applied {
					applied[f]++
				}
			}
			var want []string
			for _, f := range all {
				want = append(want, versionOf(f))
				if applied[f] != 1 {
					t.Errorf("A1: %s was applied %d times by three concurrent openers, want exactly once (%v)", f, applied[f], applied)
				}
			}
			if got := appliedVersions(t, path); !slices.Equal(got, want) {
				t.Errorf("A1: schema_migrations = %q, want %q", got, want)
			}
			db := plainDB(t, path, "")
			if n := count(t, db, `SELECT count(*) FROM app_log`); n != len(appMigrationFiles) {
				t.Errorf("A1: the application's migrations ran %d times in all, want %d", n, len(appMigrationFiles))
			}
			if n := count(t, db, `SELECT count(*) FROM app_filler`); n != 20000 {
				t.Errorf("A1: app_filler holds %d rows, want 20000 (one run)", n)
			}
			if got := integrity(t, path); got != "ok" {
				t.Errorf("A1: integrity_check = %q", got)
			}
		})
	}
}

// TestA1_ApplicationMigrationsUnderTheMRules checks the M rules on an
// application's migrations added later to a database holding data: a
// backup first (M6), a failing one leaves everything as it was (M3), and
// a version colliding with the library's is refused naming both files.
func TestA1_ApplicationMigrationsUnderTheMRules(t *testing.T) {
	ctx := context.Background()
	path, dir := newAppDB(t)
	backups := filepath.Join(filepath.Dir(path), "backups")

	t.Run("BackupThenApply", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "29000103000000_tags.sql"), []byte("-- migrate:up\nCREATE TABLE tags (name TEXT);\n-- migrate:down\nDROP TABLE tags;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := openStore(t, path, resonance.Options{Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
		s.Close()
		got, _ := filepath.Glob(filepath.Join(backups, "app-*-v29000102000000.db"))
		if len(got) != 1 {
			t.Fatalf("M6/A1: backups before the application's new migration: %q, want one taken at 29000102000000", got)
		}
		db, err := resonance.Connect(ctx, got[0], resonance.Options{ReadOnly: true, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if n := count(t, db, `SELECT count(*) FROM notes`); n != 1 {
			t.Errorf("M6/A1: the backup holds %d notes, want 1", n)
		}
	})
	t.Run("FailureChangesNothing", func(t *testing.T) {
		before := dump(t, path)
		bad := filepath.Join(dir, "29000104000000_bad.sql")
		if err := os.WriteFile(bad, []byte("-- migrate:up\nCREATE TABLE half (x);\nDELETE FROM notes;\nINSERT INTO missing VALUES (1);\n-- migrate:down\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{resonance.MigrationsDir(dir)}, BackupKeep: -1})
		if err == nil || !strings.Contains(err.Error(), "29000104000000_bad.sql") {
			t.Fatalf("M3/A1: err = %v, want the failing migration named", err)
		}
		os.Remove(bad)
		if after := dump(t, path); after != before {
			t.Errorf("M3/A1: a failing application migration changed the database:\n--- before\n%s\n--- after\n%s", before, after)
		}
	})
	t.Run("CollisionRefused", func(t *testing.T) {
		lib := embeddedMigrations(t)[1]
		clash := filepath.Join(dir, versionOf(lib)+"_mine.sql")
		if err := os.WriteFile(clash, []byte("-- migrate:up\nCREATE TABLE mine (x);\n-- migrate:down\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(clash)
		before := dump(t, path)
		_, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
		if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), lib) || !strings.Contains(err.Error(), filepath.Base(clash)) {
			t.Errorf("A1: a version colliding with the library's: err = %v, want ErrInvalid naming %s and %s", err, lib, filepath.Base(clash))
		}
		rep := conformance.CheckDatabase(ctx, path, resonance.Options{Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
		if r, ok := resultFor(rep, "A1"); !ok || r.OK || !strings.Contains(r.Detail, lib) {
			t.Errorf("A1: CheckDatabase with a colliding version: %+v", rep.Results)
		}
		if after := dump(t, path); after != before {
			t.Error("A1: the refused open changed the database")
		}
	})
}

// TestA2_CheckDatabaseSeesApplicationMigrations checks that the
// conformance checks pass on an application's database given its
// migrations, and fail with M4, naming --migrations, without them.
func TestA2_CheckDatabaseSeesApplicationMigrations(t *testing.T) {
	ctx := context.Background()
	path, dir := newAppDB(t)
	rep := conformance.CheckDatabase(ctx, path, resonance.Options{Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if !rep.OK() {
		t.Errorf("A2: CheckDatabase with the application's migrations: %+v", rep.Failures())
	}
	if r, ok := resultFor(rep, "M1"); !ok || !r.OK || !strings.Contains(r.Detail, fmt.Sprintf("all %d migrations", len(embeddedMigrations(t))+len(appMigrationFiles))) {
		t.Errorf("A2: M1 = %+v, want every migration of both applied", r)
	}
	rep = conformance.CheckDatabase(ctx, path, resonance.Options{})
	if r, ok := resultFor(rep, "M4"); !ok || r.OK || !strings.Contains(r.Fix, "--migrations") || !strings.Contains(r.Detail, "29000101000000") {
		t.Errorf("A2: CheckDatabase without the application's migrations: M4 = %+v, want a failure naming the version and --migrations", r)
	}
}

// TestA2_DbmateCLIAgreesWithBothDirectories runs the dbmate CLI with the
// library's schema/ and the application's directory: on a database the
// library migrated it finds everything applied and applies nothing, and
// on one dbmate migrated the library finds nothing to do.
func TestA2_DbmateCLIAgreesWithBothDirectories(t *testing.T) {
	bin := dbmateBin(t)
	schemaDir := filepath.Join(repoRoot(t), "schema")
	all := append(embeddedMigrations(t), appFiles()...)
	dbmate := func(t *testing.T, path, dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--url", "sqlite:" + path, "--migrations-dir", schemaDir, "--migrations-dir", dir, "--no-dump-schema"}, args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: dbmate %s: %v\n%s", rule(t), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Run("LibraryThenCLI", func(t *testing.T) {
		path, dir := newAppDB(t)
		before := dump(t, path)
		status := dbmate(t, path, dir, "status")
		for _, f := range all {
			if !strings.Contains(status, "[X] "+f) {
				t.Errorf("A2: dbmate status does not list %s as applied:\n%s", f, status)
			}
		}
		if !strings.Contains(status, fmt.Sprintf("Applied: %d", len(all))) || !strings.Contains(status, "Pending: 0") {
			t.Errorf("A2: dbmate status = %q, want %d applied and 0 pending", status, len(all))
		}
		if out := dbmate(t, path, dir, "up"); strings.Contains(out, "Applying") {
			t.Errorf("A2: dbmate up applied migrations the library had applied:\n%s", out)
		}
		if after := dump(t, path); after != before {
			t.Error("A2: dbmate up changed the database")
		}
	})
	t.Run("CLIThenLibrary", func(t *testing.T) {
		dir := appMigrationsDir(t)
		path := filepath.Join(t.TempDir(), "by-dbmate.db")
		out := dbmate(t, path, dir, "up")
		for _, f := range all {
			if !strings.Contains(out, f) {
				t.Fatalf("%s: dbmate up did not apply %s:\n%s", rule(t), f, out)
			}
		}
		h := &captureHandler{}
		s := openStore(t, path, resonance.Options{Logger: slog.New(h), Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
		defer s.Close()
		if n := h.count("resonance: migration applied"); n != 0 {
			t.Errorf("A2: the library applied %d migrations to a database dbmate had migrated with both directories, want none", n)
		}
	})
}

// TestA4_ConnectHookOnEveryConnection checks that the application's hook
// runs on every connection the library opens, after hardening — many held
// at once and those the pool replaces later — and that a hook changing a
// setting fails the connection naming the rule.
func TestA4_ConnectHookOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	path, dir := newAppDB(t)
	hook := func(c *sqlite3.SQLiteConn) error {
		return c.RegisterFunc("app_len", func(s string) int { return len([]rune(s)) }, true)
	}
	db, err := resonance.Connect(ctx, path, resonance.Options{ConnectHook: hook, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	db.SetConnMaxLifetime(50 * time.Millisecond)
	for round := range 2 {
		var conns []interface{ Close() error }
		for i := range 6 {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			conns = append(conns, c)
			var n int
			var mmap int64
			if err := c.QueryRowContext(ctx, `SELECT app_len(body) FROM notes`).Scan(&n); err != nil || n != 5 {
				t.Errorf("A4: round %d, connection %d: app_len = %d, %v; want 5 from the hook's function", round, i, n, err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mmap); err != nil || mmap != 0 {
				t.Errorf("C4: round %d, connection %d after the hook: mmap_size %d, %v", round, i, mmap, err)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond) // past the lifetime: the pool replaces them
	}

	rep := conformance.CheckDatabase(ctx, path, resonance.Options{ConnectHook: hook, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if !rep.OK() {
		t.Errorf("A4: CheckDatabase with the application's hook: %+v", rep.Failures())
	}
	mmap := func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA mmap_size = 268435456", nil)
		return err
	}
	_, err = resonance.Open(ctx, path, resonance.Options{ConnectHook: mmap, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if err == nil || !strings.Contains(err.Error(), "C4 mmap_size") {
		t.Errorf("A4: a hook setting mmap_size: Open err = %v, want a failure naming C4", err)
	}
	rep = conformance.CheckDatabase(ctx, path, resonance.Options{ConnectHook: mmap, Migrations: []fs.FS{resonance.MigrationsDir(dir)}})
	if r, ok := resultFor(rep, "C7"); !ok || r.OK || !strings.Contains(r.Detail, "C4") {
		t.Errorf("A4: CheckDatabase with a hook setting mmap_size: C7 = %+v, want a failure naming C4", r)
	}
}
