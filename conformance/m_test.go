package conformance_test

import (
	"bytes"
	"context"
	"database/sql"
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
	"testing/fstest"
	"time"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/schema"
)

// repoRoot is the repository's root: go test runs in the package directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s: repository root %s: %v", rule(t), root, err)
	}
	return root
}

// embeddedMigrations lists the migration files embedded in the binary.
func embeddedMigrations(t testing.TB) []string {
	t.Helper()
	names, err := fs.Glob(schema.FS, "*.sql")
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	slices.Sort(names)
	return names
}

func versionOf(file string) string { v, _, _ := strings.Cut(file, "_"); return v }

// dump is the logical content of a database: its schema and every row of
// every table, in a stable order.
func dump(t testing.TB, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro"))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name`)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, sqlText string
		rows.Scan(&typ, &name, &sqlText)
		fmt.Fprintf(&b, "%s %s: %s\n", typ, name, sqlText)
		if typ == "table" && !strings.HasPrefix(name, "sqlite_") {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %q ORDER BY 1`, table))
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

func appliedVersions(t testing.TB, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro"))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		rows.Scan(&v)
		vs = append(vs, v)
	}
	return vs
}

// TestM1_EmbeddedMigrationsAppliedAtOpen checks that schema/ is embedded
// (the binary applies it from any working directory), that Open applies
// every pending migration before it returns, records each version in
// dbmate's schema_migrations, and applies nothing on the next open.
func TestM1_EmbeddedMigrationsAppliedAtOpen(t *testing.T) {
	ctx := context.Background()
	files := embeddedMigrations(t)
	onDisk, _ := filepath.Glob(filepath.Join(repoRoot(t), "schema", "*.sql"))
	var diskNames []string
	for _, p := range onDisk {
		diskNames = append(diskNames, filepath.Base(p))
	}
	if !slices.Equal(files, diskNames) || len(files) < 3 {
		t.Fatalf("M1: embedded migrations %q, schema/ holds %q", files, diskNames)
	}

	path := filepath.Join(t.TempDir(), "m1.db")
	h := &captureHandler{}
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true, Logger: slog.New(h)})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	var want []string
	for _, f := range files {
		want = append(want, versionOf(f))
	}
	if got := appliedVersions(t, path); !slices.Equal(got, want) {
		t.Errorf("M1: schema_migrations after Open = %q, want %q", got, want)
	}
	if got := h.attrs("resonance: migration applied", "file"); !slices.Equal(got, files) {
		t.Errorf("M1: Open applied %q, want %q", got, files)
	}
	if n := count(t, s.DB(), `SELECT count(*) FROM pragma_table_info('nodes') WHERE name = 'summary'`); n != 1 {
		t.Error("M1: the last migration's column nodes.summary is missing after Open returned")
	}
	ms, err := resonance.MigrationStatusOf(ctx, s.Path(), resonance.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	for _, m := range ms {
		if !m.Applied || m.File == "" {
			t.Errorf("M1: Migrations() reports %+v", m)
		}
	}
	s.Close()

	h2 := &captureHandler{}
	s = openStore(t, path, resonance.Options{Logger: slog.New(h2)})
	if n := h2.count("resonance: migration applied"); n != 0 {
		t.Errorf("M1: reopening applied %d migrations, want none", n)
	}

	// A child process whose working directory holds no schema/ applies
	// them all: they come from the binary.
	other := filepath.Join(t.TempDir(), "elsewhere.db")
	p := startTogether(t, spawn{role: "migrate-open", args: childArgs{DB: other}})[0]
	var r migrateResult
	p.result(&r, 60*time.Second)
	if r.Err != "" || !slices.Equal(r.Applied, files) {
		t.Errorf("M1: a child process applied %q (err %q), want every embedded migration", r.Applied, r.Err)
	}
}

// dbmateBin returns the dbmate CLI the Makefile pins (DBMATE_BIN, set by
// make conformance), or builds it from tools/dbmate: dbmate's command line
// with its SQLite driver, at the version tools/dbmate/go.mod pins.
func dbmateBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("DBMATE_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "dbmate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repoRoot(t), "tools", "dbmate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: building dbmate from tools/dbmate (set DBMATE_BIN to use a built one): %v\n%s", rule(t), err, out)
	}
	return bin
}

// TestM1_DbmateCLIAgrees runs the dbmate CLI, at the version tools/dbmate/go.mod
// pins, on databases the library migrated, and the library on a database
// dbmate migrated: both read the same schema_migrations table, so each
// finds nothing to do.
func TestM1_DbmateCLIAgrees(t *testing.T) {
	ctx := context.Background()
	bin := dbmateBin(t)
	schemaDir := filepath.Join(repoRoot(t), "schema")
	files := embeddedMigrations(t)
	dbmate := func(t *testing.T, path string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--url", "sqlite:" + path, "--migrations-dir", schemaDir, "--no-dump-schema"}, args...)...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: dbmate %s: %v\n%s", rule(t), strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("LibraryThenCLI", func(t *testing.T) {
		path := newDB(t)
		s := openStore(t, path, resonance.Options{})
		if err := s.Tx(ctx, insertNode(ctx, "data")); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		s.Close()
		before := dump(t, path)
		status := dbmate(t, path, "status")
		for _, f := range files {
			if !strings.Contains(status, "[X] "+f) {
				t.Errorf("M1/M5: dbmate status does not list %s as applied on a database the library migrated:\n%s", f, status)
			}
		}
		if !strings.Contains(status, fmt.Sprintf("Applied: %d", len(files))) || !strings.Contains(status, "Pending: 0") {
			t.Errorf("M1/M5: dbmate status = %q, want %d applied and 0 pending", status, len(files))
		}
		if out := dbmate(t, path, "up"); strings.Contains(out, "Applying") {
			t.Errorf("M1/M5: dbmate up applied migrations the library had applied:\n%s", out)
		}
		if after := dump(t, path); after != before {
			t.Errorf("M1/M5: dbmate up changed the database:\n--- before\n%s\n--- after\n%s", before, after)
		}
	})
	t.Run("CLIThenLibrary", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "by-dbmate.db")
		out := dbmate(t, path, "up")
		for _, f := range files {
			if !strings.Contains(out, f) {
				t.Fatalf("%s: dbmate up did not apply %s:\n%s", rule(t), f, out)
			}
		}
		h := &captureHandler{}
		s := openStore(t, path, resonance.Options{Logger: slog.New(h)})
		if n := h.count("resonance: migration applied"); n != 0 {
			t.Errorf("M1/M5: the library applied %d migrations to a database dbmate had migrated, want none", n)
		}
		ms, err := resonance.MigrationStatusOf(ctx, s.Path(), resonance.Options{})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		for _, m := range ms {
			if !m.Applied || m.File == "" {
				t.Errorf("M1/M5: on a dbmate-migrated database the library reports %+v", m)
			}
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), "backups")); err == nil {
			t.Error("M1/M6: opening a dbmate-migrated database with nothing pending wrote a backup")
		}
	})
}

// TestM2_ConcurrentFirstOpenAppliesOnce starts three processes that open
// the same fresh database at the same moment, several times: all succeed
// and each migration is applied exactly once.
func TestM2_ConcurrentFirstOpenAppliesOnce(t *testing.T) {
	for round, mode := range []string{"embedded", "logged", "embedded", "logged"} {
		t.Run(fmt.Sprintf("%d-%s", round+1, mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fresh.db")
			var files []string
			if mode == "logged" {
				files, _ = fs.Glob(loggedMigrations, "*.sql")
			} else {
				files = embeddedMigrations(t)
			}
			var ss []spawn
			for range 3 {
				ss = append(ss, spawn{role: "migrate-open", args: childArgs{DB: path, Mode: mode}})
			}
			applied := map[string]int{}
			for i, p := range startTogether(t, ss...) {
				var r migrateResult
				p.result(&r, 60*time.Second)
				if r.Err != "" {
					t.Errorf("M2: process %d opening a fresh database beside two others failed: %s", i+1, r.Err)
				}
				for _, f := range r.Applied {
					applied[f]++
				}
			}
			for _, f := range files {
				if applied[f] != 1 {
					t.Errorf("M2: %s was applied %d times by three concurrent openers, want exactly once (%v)", f, applied[f], applied)
				}
			}
			var want []string
			for _, f := range files {
				want = append(want, versionOf(f))
			}
			if mode == "logged" { // the application's migrations add to the embedded ones
				for _, f := range embeddedMigrations(t) {
					want = append(want, versionOf(f))
				}
				slices.Sort(want)
			}
			if got := appliedVersions(t, path); !slices.Equal(got, want) {
				t.Errorf("M2: schema_migrations = %q, want %q", got, want)
			}
			if mode == "logged" {
				db := plainDB(t, path, "")
				if n := count(t, db, `SELECT count(*) FROM migration_log`); n != len(files) {
					t.Errorf("M2: the migrations ran %d times in all, want %d", n, len(files))
				}
				if n := count(t, db, `SELECT count(*) FROM filler`); n != 20000 {
					t.Errorf("M2: filler holds %d rows, want 20000 (one run of 002)", n)
				}
			}
			// The embedded migrations hold no data; the logged ones do, so a
			// late opener may rightly back them up.
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "backups")); err == nil && mode == "embedded" {
				t.Errorf("M2/M6: concurrent first opens of an empty database wrote a pre-migration backup")
			}
			if got := integrity(t, path); got != "ok" {
				t.Errorf("M2: integrity_check = %q", got)
			}
		})
	}
}

// TestM3_FailingMigrationChangesNothing checks that a migration that fails
// half-way leaves the database exactly at the previous version: the
// migrations before it applied, nothing of it.
func TestM3_FailingMigrationChangesNothing(t *testing.T) {
	ctx := context.Background()
	m1 := fstest.MapFS{"001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\nINSERT INTO a VALUES (1);\n-- migrate:down\nDROP TABLE a;\n")}}
	m2 := fstest.MapFS{"001_a.sql": m1["001_a.sql"],
		"002_b.sql": {Data: []byte("-- migrate:up\nCREATE TABLE b (y);\nINSERT INTO a VALUES (2);\n-- migrate:down\nDROP TABLE b;\n")}}
	bad := fstest.MapFS{"001_a.sql": m1["001_a.sql"], "002_b.sql": m2["002_b.sql"],
		"003_bad.sql": {Data: []byte("-- migrate:up\nCREATE TABLE c (z);\nINSERT INTO a VALUES (3);\nUPDATE a SET x = x * 10;\nINSERT INTO missing_table VALUES (1);\n-- migrate:down\nDROP TABLE c;\n")}}

	dir := t.TempDir()
	path := filepath.Join(dir, "m3.db")
	want := filepath.Join(dir, "want.db")
	for _, p := range []string{path, want} {
		s, err := resonance.Open(ctx, p, resonance.Options{Create: true, Migrations: []fs.FS{m1}, BackupKeep: -1})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		s.Close()
	}
	s, err := resonance.Open(ctx, want, resonance.Options{Migrations: []fs.FS{m2}, BackupKeep: -1})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	s.Close()

	_, err = resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{bad}, BackupKeep: -1})
	if err == nil || !strings.Contains(err.Error(), "003_bad.sql") || !strings.Contains(err.Error(), "previous version") {
		t.Fatalf("M3: Open with a failing migration: err = %v, want one naming 003_bad.sql and the previous version", err)
	}
	if got, w := dump(t, path), dump(t, want); got != w {
		t.Errorf("M3: after the failed migration the database is not exactly at version 002:\n--- got\n%s\n--- want\n%s", got, w)
	}
	if got := integrity(t, path); got != "ok" {
		t.Errorf("M3: integrity_check after the failed migration = %q", got)
	}
	// The next open with the good migrations finds nothing to do.
	h := &captureHandler{}
	s, err = resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{m2}, Logger: slog.New(h)})
	if err != nil {
		t.Fatalf("M3: reopening at the previous version: %v", err)
	}
	s.Close()
	if n := h.count("resonance: migration applied"); n != 0 {
		t.Errorf("M3: reopening applied %d migrations", n)
	}
}

// TestM4_UnknownVersionRefused checks that a database recording versions
// this binary does not know — newer, or unknown older ones — is refused
// with ErrSchemaMismatch and left byte for byte as it was.
func TestM4_UnknownVersionRefused(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"29990101000000", "20230615000000"} {
		t.Run(v, func(t *testing.T) {
			path := newDB(t)
			db := plainDB(t, path, "")
			if _, err := db.Exec(`INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			db.Close()
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			for _, o := range []resonance.Options{{}, {ReadOnly: true}} {
				_, err = resonance.Open(ctx, path, o)
				if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "schema mismatch") || !strings.Contains(err.Error(), v) {
					t.Errorf("M4: Open(ReadOnly=%v) of a database recording %s: err = %v, want ErrSchemaMismatch naming it", o.ReadOnly, v, err)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			if !bytes.Equal(before, after) {
				t.Error("M4: the refused database was modified")
			}
			if got := listDir(path); !slices.Equal(got, []string{"graph.db"}) {
				t.Errorf("M4: refusing the database left %q", got)
			}
			ms, err := resonance.MigrationStatusOf(ctx, path, resonance.Options{})
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			if i := slices.IndexFunc(ms, func(m resonance.MigrationStatus) bool { return m.Version == v }); i < 0 || ms[i].File != "" {
				t.Errorf("M4: MigrationStatusOf does not report %s as unknown: %+v", v, ms)
			}
			rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
			if i := slices.IndexFunc(rep.Results, func(r conformance.Result) bool { return r.Rule == "M4" }); i < 0 || rep.Results[i].OK {
				t.Errorf("M4: CheckDatabase does not flag the unknown version: %+v", rep.Results)
			}
		})
	}
	t.Run("ReadOnlyWithPending", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		migrateByHand(t, path, schema.FS, "20240101000000_create_graph.sql")
		_, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true})
		if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "migrate up") {
			t.Errorf("M4: a read-only Open of a database with pending migrations: err = %v, want ErrSchemaMismatch saying how to migrate", err)
		}
	})
}

func mustRead(t *testing.T, fsys fs.FS, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	return b
}

// TestM5_SqlcReadsTheSameSchema checks that sqlc's schema is schema/, the
// files the binary embeds, and, when an sqlc binary is at hand, that db/
// is what sqlc generates now (the logic of make check-generated) and that
// a stale db/ is caught.
func TestM5_SqlcReadsTheSameSchema(t *testing.T) {
	root := repoRoot(t)
	cfg, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	var schemaDir string
	for _, line := range strings.Split(string(cfg), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "schema:"); ok {
			schemaDir = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if schemaDir != "schema" {
		t.Fatalf("M5: sqlc.yaml reads its schema from %q, want schema (the migrations)", schemaDir)
	}
	for _, name := range embeddedMigrations(t) {
		disk, err := os.ReadFile(filepath.Join(root, "schema", name))
		if err != nil || !bytes.Equal(disk, mustRead(t, schema.FS, name)) {
			t.Errorf("M5: schema/%s on disk differs from the embedded copy (%v)", name, err)
		}
	}
	gen, _ := filepath.Glob(filepath.Join(root, "db", "*.go"))
	if len(gen) == 0 {
		t.Fatal("M5: db/ holds no generated Go files")
	}
	for _, f := range gen {
		b, _ := os.ReadFile(f)
		if !bytes.Contains(b, []byte("Code generated by sqlc. DO NOT EDIT.")) {
			t.Errorf("M5: %s does not carry sqlc's generated-code header", f)
		}
	}

	t.Run("CheckGenerated", func(t *testing.T) {
		sqlc := os.Getenv("SQLC_BIN")
		if sqlc == "" {
			sqlc = filepath.Join(root, "bin", "sqlc")
		}
		if _, err := os.Stat(sqlc); err != nil {
			t.Skipf("M5: no sqlc binary at %s (run make tools, or set SQLC_BIN); make check-generated does this check in CI", sqlc)
		}
		generate := func(t *testing.T, edit func(dir string)) string {
			dir := t.TempDir()
			for _, p := range []string{"sqlc.yaml", "schema", "queries"} {
				if out, err := exec.Command("cp", "-r", filepath.Join(root, p), dir).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v: %s", rule(t), err, out)
				}
			}
			if edit != nil {
				edit(dir)
			}
			cmd := exec.Command(sqlc, "generate")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: sqlc generate: %v\n%s", rule(t), err, out)
			}
			return filepath.Join(dir, "db")
		}
		if diff := diffDirs(t, filepath.Join(root, "db"), generate(t, nil)); diff != "" {
			t.Errorf("M5: db/ is stale, run make generate: %s", diff)
		}
		stale := generate(t, func(dir string) {
			qs, _ := filepath.Glob(filepath.Join(dir, "queries", "*.sql"))
			f, err := os.OpenFile(qs[0], os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatalf("%s: %v", rule(t), err)
			}
			fmt.Fprintln(f, "\n-- name: ConformanceProbe :one\nSELECT count(*) FROM nodes;")
			f.Close()
		})
		if diffDirs(t, filepath.Join(root, "db"), stale) == "" {
			t.Error("M5: editing a query without regenerating left db/ equal to sqlc's output: the check cannot catch a stale db/")
		}
	})
}

// diffDirs names the files that differ between two directories.
func diffDirs(t *testing.T, a, b string) string {
	t.Helper()
	var diffs []string
	names := map[string]bool{}
	for _, d := range []string{a, b} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		for _, e := range entries {
			names[e.Name()] = true
		}
	}
	for name := range names {
		x, errA := os.ReadFile(filepath.Join(a, name))
		y, errB := os.ReadFile(filepath.Join(b, name))
		if errA != nil || errB != nil || !bytes.Equal(x, y) {
			diffs = append(diffs, name)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}

// TestM6_BackupBeforeMigratingData checks that a database holding data
// gets a consistent backup in backups/ beside it before each migration
// run, that the newest 7 are kept, and that an empty database gets none.
func TestM6_BackupBeforeMigratingData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "b.db")
	ms := fstest.MapFS{"29000101000001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")}}
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true, Migrations: []fs.FS{ms}})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "backups")); err == nil {
		t.Error("M6: creating a new database wrote a backup")
	}
	if _, err := s.DB().Exec(`INSERT INTO a VALUES (42)`); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	s.Close()
	for i := 2; i <= 10; i++ {
		ms[fmt.Sprintf("290001010000%02d_t.sql", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("-- migrate:up\nCREATE TABLE t%03d (x);\nINSERT INTO a VALUES (%d);\n-- migrate:down\n", i, i))}
		s, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{ms}})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		s.Close()
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "backups", "b-*.db"))
	slices.Sort(backups)
	if len(backups) != 7 {
		t.Fatalf("M6: %d backups after 9 migration runs, want the newest 7: %q", len(backups), backups)
	}
	newest := backups[len(backups)-1]
	if !strings.HasSuffix(newest, "-v29000101000009.db") {
		t.Errorf("M6: the newest backup is %s, want the one taken at version 29000101000009", filepath.Base(newest))
	}
	if got := integrity(t, newest); got != "ok" {
		t.Errorf("M6: integrity_check of the backup = %q", got)
	}
	db, err := resonance.Connect(ctx, newest, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("M6: the backup does not open with the connector: %v", err)
	}
	defer db.Close()
	if n := count(t, db, `SELECT count(*) FROM a`); n != 9 {
		t.Errorf("M6: the backup taken before migration 010 holds %d rows, want the 9 of its time", n)
	}
	if n, want := count(t, db, `SELECT count(*) FROM schema_migrations`), len(embeddedMigrations(t))+9; n != want {
		t.Errorf("M6: the backup records %d migrations, want %d", n, want)
	}
}
