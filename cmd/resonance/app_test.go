package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appDir writes an application's migration directory: a table of its own
// next to the library's nodes.
func appDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "migrations")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var notesMigration = map[string]string{
	"29000101000000_create_notes.sql": "-- migrate:up\nCREATE TABLE notes (node_id TEXT NOT NULL REFERENCES nodes(id), body TEXT NOT NULL);\n-- migrate:down\nDROP TABLE notes;\n",
}

func TestMigrationsFlag_EveryCommandSeesThem(t *testing.T) {
	dir := appDir(t, notesMigration)
	tags := appDir(t, map[string]string{"29000102000000_tags.sql": "-- migrate:up\nCREATE TABLE tags (name TEXT);\n-- migrate:down\nDROP TABLE tags;\n"})
	path := filepath.Join(t.TempDir(), "app.db")
	mustCLI(t, 0, "", "--db", path, "--migrations", dir, "init")
	mustCLI(t, 0, "", "--db", path, "import", "--migrations", dir, "-")

	// A second directory, given after the command: applied by migrate up.
	mustCLI(t, 0, "", "--db", path, "--migrations", dir, "migrate", "up", "--migrations", tags)
	both := dir + "," + tags
	var st struct {
		Migrations []struct {
			Version string `json:"version"`
			File    string `json:"file"`
			Applied bool   `json:"applied"`
		} `json:"migrations"`
	}
	decode(t, mustCLI(t, 0, "", "--db", path, "--migrations", both, "--json", "migrate", "status"), &st)
	var versions []string
	for _, m := range st.Migrations {
		if !m.Applied || m.File == "" {
			t.Errorf("migrate status: %+v, want applied and known", m)
		}
		versions = append(versions, m.Version)
	}
	if n := len(versions); n < 3 || versions[n-2] != "29000101000000" || versions[n-1] != "29000102000000" {
		t.Errorf("migrate status versions %q, want the library's then both of the application's", versions)
	}

	for _, args := range [][]string{
		{"doctor", "--conformance"},
		{"doctor"},
		{"stats"},
		{"health"},
		{"integrity"},
		{"checkpoint"},
		{"export", "OUT"},
		{"backup", "--verify", "OUT"},
		{"migrate", "status"},
	} {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			// with returns the command line, with a new output file for OUT.
			with := func(global ...string) []string {
				out := append([]string{"--db", path}, global...)
				for _, a := range args {
					if a == "OUT" {
						a = filepath.Join(t.TempDir(), "out")
					}
					out = append(out, a)
				}
				return out
			}
			mustCLI(t, 0, "", with("--migrations", both)...)
			t.Setenv("RESONANCE_MIGRATIONS", both)
			mustCLI(t, 0, "", with()...)
			t.Setenv("RESONANCE_MIGRATIONS", "")
			r := mustCLI(t, 1, "", with()...)
			if out := r.stdout + r.stderr; !strings.Contains(out, "29000101000000") || !strings.Contains(out, "--migrations") {
				t.Errorf("without --migrations: want the unknown version and the flag named\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
			if args[0] == "doctor" && !strings.Contains(r.stdout, "M4") {
				t.Errorf("doctor without --migrations: want M4 reported:\n%s", r.stdout)
			}
		})
	}

	// The first --migrations replaces $RESONANCE_MIGRATIONS rather than
	// adding to it: only dir is given, so tags' version is unknown.
	t.Setenv("RESONANCE_MIGRATIONS", tags)
	r := mustCLI(t, 1, "", "--db", path, "--migrations", dir, "stats")
	if !strings.Contains(r.stderr, "29000102000000") {
		t.Errorf("--migrations after $RESONANCE_MIGRATIONS: stderr %s, want tags' version unknown", r.stderr)
	}
}

func TestMigrationsFlag_BadDirectory(t *testing.T) {
	path := newDB(t)
	file := filepath.Join(t.TempDir(), "x.sql")
	os.WriteFile(file, []byte("-- migrate:up\n"), 0o644)
	for _, d := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		r := mustCLI(t, 2, "", "--db", path, "--migrations", d, "stats")
		if !strings.Contains(r.stderr, "--migrations") || !strings.Contains(r.stderr, d) {
			t.Errorf("--migrations %s: stderr %s, want the flag and the directory named", d, r.stderr)
		}
	}
	// A version colliding with the library's is refused naming both files.
	clash := appDir(t, map[string]string{"20240101000000_mine.sql": "-- migrate:up\nCREATE TABLE mine (x);\n-- migrate:down\n"})
	r := mustCLI(t, 1, "", "--db", path, "--migrations", clash, "stats")
	if !strings.Contains(r.stderr, "20240101000000_mine.sql") || !strings.Contains(r.stderr, "20240101000000_create_graph.sql") {
		t.Errorf("colliding version: stderr %s, want both files named", r.stderr)
	}
}

func TestSchema_WritesAndChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "resonance-schema")
	r := mustCLI(t, 1, "", "schema", "--check", dir)
	if !strings.Contains(r.stderr, "stale") {
		t.Errorf("check of a missing directory: %s", r.stderr)
	}
	mustCLI(t, 0, "", "schema", dir)
	mustCLI(t, 0, "", "schema", "--check", dir)
	names, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	if len(names) == 0 {
		t.Fatal("schema wrote no migrations")
	}
	// A changed file is stale, and writing again restores it.
	os.WriteFile(names[0], []byte("-- migrate:up\n"), 0o644)
	mustCLI(t, 1, "", "schema", "--check", dir)
	mustCLI(t, 0, "", "schema", dir)
	mustCLI(t, 0, "", "schema", "--check", dir)
	// A migration that is not the library's is refused, never removed.
	own := filepath.Join(dir, "29000101000000_mine.sql")
	os.WriteFile(own, []byte("-- migrate:up\n"), 0o644)
	r = mustCLI(t, 1, "", "schema", dir)
	if !strings.Contains(r.stderr, "29000101000000_mine.sql") {
		t.Errorf("foreign file: stderr %s, want it named", r.stderr)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("schema removed the application's file: %v", err)
	}
	mustCLI(t, 1, "", "schema", "--check", dir)
}

// TestDoctor_FixesCarryTheFlags: the command doctor suggests for a pending
// application migration carries --migrations and --external-checkpoints,
// and run as written it applies the migration; so does the fix of
// doctor --conformance.
func TestDoctor_FixesCarryTheFlags(t *testing.T) {
	dir := appDir(t, notesMigration)
	path := filepath.Join(t.TempDir(), "app.db")
	mustCLI(t, 0, "", "--db", path, "--migrations", dir, "--external-checkpoints", "init")
	if err := os.WriteFile(filepath.Join(dir, "29000102000000_tags.sql"), []byte("-- migrate:up\nCREATE TABLE tags (name TEXT);\n-- migrate:down\nDROP TABLE tags;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, doctor := range [][]string{{"doctor"}, {"doctor", "--conformance"}} {
		var rep doctorReport
		r := mustCLI(t, 1, "", append([]string{"--db", path, "--migrations", dir, "--external-checkpoints", "--json"}, doctor...)...)
		decode(t, r, &rep)
		var fix string
		for _, c := range rep.Checks {
			if c.Rule == "M1" && c.Status == "fail" {
				fix = c.Fix
			}
		}
		if !strings.Contains(fix, "--migrations "+dir) || !strings.Contains(fix, "--external-checkpoints") {
			t.Fatalf("%s: M1 fix %q, want --migrations %s and --external-checkpoints", doctor, fix, dir)
		}
	}
	var rep doctorReport
	decode(t, mustCLI(t, 1, "", "--db", path, "--migrations", dir, "--external-checkpoints", "--json", "doctor"), &rep)
	var fix string
	for _, c := range rep.Checks {
		if c.Rule == "M1" {
			fix = c.Fix
		}
	}
	// Run the fix as written (up to its parenthesis), then doctor is content.
	cmdline, _, _ := strings.Cut(fix, " (")
	args := strings.Fields(cmdline)
	if len(args) < 2 || args[0] != "resonance" {
		t.Fatalf("fix %q is not a resonance command", fix)
	}
	mustCLI(t, 0, "", args[1:]...)
	mustCLI(t, 0, "", "--db", path, "--migrations", dir, "--external-checkpoints", "doctor")
}

// TestHealthAndDoctor_LibraryTableDropped: after an application's
// migration dropped nodes, health and doctor fail naming it.
func TestHealthAndDoctor_LibraryTableDropped(t *testing.T) {
	dir := appDir(t, map[string]string{"29000101000000_drop.sql": "-- migrate:up\nDROP TABLE nodes;\n-- migrate:down\n"})
	db := filepath.Join(t.TempDir(), "graph.db")
	cli(t, "", "--db", db, "--migrations", dir, "init") // its stats fail: no nodes
	h := mustCLI(t, 1, "", "--db", db, "--migrations", dir, "health")
	if !strings.Contains(h.stdout, "table nodes is missing") {
		t.Errorf("health after nodes was dropped:\n%s\n%s", h.stdout, h.stderr)
	}
	d := mustCLI(t, 1, "", "--db", db, "--migrations", dir, "doctor")
	if !hasLine(d.stdout, "FAIL", "table nodes is missing") || !strings.Contains(d.stdout, "undo that with another migration") {
		t.Errorf("doctor after nodes was dropped:\n%s", d.stdout)
	}
}
