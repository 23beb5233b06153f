package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// result is what one in-process run of the CLI printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the CLI in-process with stdin and args.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// mustCLI runs the CLI and fails the test unless it exits with want.
func mustCLI(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != want {
		t.Fatalf("resonance %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// decode parses r.stdout as one JSON object into v.
func decode(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not the JSON expected (%v):\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", r.stdout)
	}
}

// newDB creates a migrated database in a fresh directory and returns its path.
func newDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", path, "init")
	return path
}

// count runs a count query on the database at path.
func count(t *testing.T, path, query string, args ...any) int64 {
	t.Helper()
	db, err := resonance.Connect(t.Context(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestHelp_ListsEveryCommand(t *testing.T) {
	r := mustCLI(t, 0, "", "help")
	want := []string{"init", "migrate", "health", "stats", "checkpoint", "vacuum", "analyze", "optimize",
		"integrity", "backup", "doctor", "import", "export", "search"}
	for _, name := range want {
		if !strings.Contains(r.stdout, "\n  "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, r.stdout)
		}
	}
	for _, dash := range []string{"-h", "--help"} {
		if top := mustCLI(t, 0, "", dash); top.stdout != r.stdout || top.stderr != "" {
			t.Errorf("`resonance %s` printed stdout %q, stderr %q; want the help on stdout alone", dash, top.stdout, top.stderr)
		}
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			h := mustCLI(t, 0, "", "help", c.name)
			if !strings.Contains(h.stdout, "usage: resonance "+c.name) || !strings.Contains(h.stdout, "--json") {
				t.Errorf("help %s lacks the usage line or --json:\n%s", c.name, h.stdout)
			}
			if takesDB := strings.Contains(h.stdout, "--db FILE"); takesDB == c.noDB {
				t.Errorf("help %s shows --db: %v, but the command opens the database: %v\n%s", c.name, takesDB, !c.noDB, h.stdout)
			}
			fs := commandFlags(&c, &env{}, &bytes.Buffer{})
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(h.stdout, "\n  --"+f.Name) {
					t.Errorf("help %s does not list --%s:\n%s", c.name, f.Name, h.stdout)
				}
				if strings.TrimSpace(f.Usage) == "" {
					t.Errorf("flag --%s of %s has no usage text", f.Name, c.name)
				}
			})
			if strings.Contains(h.stdout, "\n  -"+"-h") || strings.Contains(h.stdout, " -db") {
				t.Errorf("help %s shows a flag with one dash:\n%s", c.name, h.stdout)
			}
			for _, dash := range []string{"-h", "--help"} {
				d := mustCLI(t, 0, "", c.name, dash)
				if d.stdout != h.stdout || d.stderr != "" {
					t.Errorf("`%s %s` printed stdout %q, stderr %q; want what `help %s` prints, on stdout", c.name, dash, d.stdout, d.stderr, c.name)
				}
			}
		})
	}
}

func TestHelp_UsageLineShowsRequiredFlags(t *testing.T) {
	h := mustCLI(t, 0, "", "search", "-h")
	if !strings.HasPrefix(h.stdout, "usage: resonance search [flags] (--vector FILE | --like ID)\n") {
		t.Errorf("search -h does not show the required query flags on its usage line:\n%s", h.stdout)
	}
}

func TestRun_GlobalFlagOfAnotherCommandRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	for _, args := range [][]string{{"--db", db, "schema", t.TempDir()}, {"schema", "--db", db, t.TempDir()}, {"--migrations", t.TempDir(), "bench"}} {
		r := mustCLI(t, 2, "", args...)
		if !strings.Contains(r.stderr, "-db") && !strings.Contains(r.stderr, "-migrations") {
			t.Errorf("resonance %s: stderr %q does not name the flag", strings.Join(args, " "), r.stderr)
		}
	}
}

func TestRun_UsageErrorsExit2(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	tests := [][]string{
		{},
		{"frobnicate"},
		{"help", "frobnicate"},
		{"--no-such-flag", "health"},
		{"--db", db, "health", "--no-such-flag"},
		{"--db", db, "health", "extra"},
		{"--db", db, "migrate"},
		{"--db", db, "migrate", "sideways"},
		{"--db", db, "import"},
		{"--db", db, "import", "a", "b"},
		{"--db", db, "import", "--batch", "0", "a"},
		{"--db", db, "import", "--skip", "-1", "a"},
		{"--db", db, "import", "--progress", "sometimes", "a"},
		{"--db", db, "export", "a", "b"},
		{"--db", db, "backup"},
		{"--db", db, "doctor", "a", "b"},
		{"--db", db, "vacuum", "--pages", "3"},
		{"--db", db, "search"},
		{"--db", db, "search", "--like", "a", "--k", "-1"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := mustCLI(t, 2, "", args...)
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if r.stderr == "" {
				t.Errorf("no message on stderr")
			}
		})
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("usage errors created %s", db)
	}
}

func TestRun_MissingDatabaseExit1(t *testing.T) {
	db := filepath.Join(t.TempDir(), "missing.db")
	for _, cmd := range []string{"health", "stats", "vacuum", "integrity", "export"} {
		r := mustCLI(t, 1, "", "--db", db, cmd)
		if !strings.Contains(r.stderr, "resonance init") || !strings.Contains(r.stderr, db) {
			t.Errorf("%s on a missing database: stderr %q, want the path and `resonance init`", cmd, r.stderr)
		}
	}
	r := mustCLI(t, 1, "", "--db", db, "--json", "stats")
	var v struct{ Error string }
	decode(t, r, &v)
	if v.Error == "" {
		t.Errorf("--json error output %q lacks an error field", r.stdout)
	}
}

func TestInit_Example(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "graph.db")
	var first struct {
		DB     string `json:"db"`
		Status string `json:"status"`
		resonance.Health
		Stats   resonance.Stats `json:"stats"`
		Example *exampleResult  `json:"example"`
	}
	decode(t, mustCLI(t, 0, "", "init", "--example", "--db", db, "--json"), &first)
	if first.Status != "healthy" || first.Example == nil || !first.Example.Imported {
		t.Fatalf("first init --example: %+v", first)
	}
	if first.Stats.Nodes != first.Example.Nodes || first.Stats.Edges != first.Example.Edges || first.Stats.Nodes < 200 ||
		first.Stats.Vectors != first.Stats.Nodes || first.Stats.SemanticTokens == 0 {
		t.Errorf("stats after the example %+v, example %+v", first.Stats, first.Example)
	}
	history := count(t, db, `SELECT count(*) FROM history`)

	second := first
	second.Example = nil
	decode(t, mustCLI(t, 0, "", "--json", "--db", db, "init", "--example"), &second)
	if second.Example == nil || second.Example.Imported || second.Stats.Nodes != first.Stats.Nodes || second.Stats.Edges != first.Stats.Edges {
		t.Errorf("second init --example: example %+v, stats %+v", second.Example, second.Stats)
	}
	if h := count(t, db, `SELECT count(*) FROM history`); h != history {
		t.Errorf("second init --example wrote %d history rows", h-history)
	}

	text := mustCLI(t, 0, "", "--db", db, "init", "--example")
	for _, want := range []string{"already imported", "status", "healthy", "nodes", "edges", "WAL size"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("init --example output lacks %q:\n%s", want, text.stdout)
		}
	}
}

func TestCommands_JSON(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")

	var st struct {
		DB string `json:"db"`
		resonance.Stats
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "stats", "--json"), &st)
	if st.Nodes == 0 || st.Edges == 0 || st.DBSizeBytes == 0 || st.DB != db {
		t.Errorf("stats --json: %+v", st)
	}
	var h struct {
		DB     string `json:"db"`
		Status string `json:"status"`
		resonance.Health
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "health", "--json"), &h)
	if h.Status != "healthy" {
		t.Errorf("health --json: %+v", h)
	}
	var cp checkpointResult
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "checkpoint"), &cp)
	if cp.Busy || cp.WALBytes != 0 {
		t.Errorf("checkpoint --json: %+v", cp)
	}
	for _, op := range []string{"vacuum", "analyze", "optimize"} {
		var m maintResult
		decode(t, mustCLI(t, 0, "", "--db", db, op, "--json"), &m)
		if m.Op != op || m.BytesAfter == 0 || m.DB != db {
			t.Errorf("%s --json: %+v", op, m)
		}
		if txt := mustCLI(t, 0, "", "--db", db, op); !strings.Contains(txt.stdout, op+" "+db+": done") {
			t.Errorf("%s: %q", op, txt.stdout)
		}
	}
	r := mustCLI(t, 1, "", "--db", db, "vacuum", "--incremental")
	if !strings.Contains(r.stderr, "INCREMENTAL") {
		t.Errorf("vacuum --incremental on auto_vacuum NONE: %q", r.stderr)
	}
	var ms struct {
		Migrations []resonance.MigrationStatus `json:"migrations"`
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "migrate", "status", "--json"), &ms)
	if len(ms.Migrations) == 0 || !ms.Migrations[len(ms.Migrations)-1].Applied {
		t.Errorf("migrate status --json: %+v", ms)
	}
	var integ struct {
		DB       string   `json:"db"`
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "integrity", "--json"), &integ)
	if !integ.OK || len(integ.Problems) != 0 {
		t.Errorf("integrity --json: %+v", integ)
	}
	if txt := mustCLI(t, 0, "", "--db", db, "integrity"); !strings.Contains(txt.stdout, ": ok") {
		t.Errorf("integrity: %q", txt.stdout)
	}
}

func TestIntegrity_DamagedExit1(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	damage(t, db)

	r := mustCLI(t, 1, "", "--db", db, "integrity")
	if !strings.Contains(r.stdout, " problems:") || !strings.Contains(r.stderr, "restore it from a backup") {
		t.Errorf("integrity on a damaged database:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	var integ struct {
		DB       string   `json:"db"`
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	decode(t, mustCLI(t, 1, "", "--db", db, "integrity", "--json"), &integ)
	if integ.OK || len(integ.Problems) == 0 {
		t.Errorf("integrity --json on a damaged database: %+v", integ)
	}
}

// damage creates the example graph at db, adds an index on edges(source)
// and swaps its b-tree with that of idx_edges_target: the file stays
// readable, but each index now disagrees with the table, which
// integrity_check reports.
func damage(t *testing.T, db string) {
	t.Helper()
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	raw, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE INDEX damage_source ON edges (source)`); err != nil {
		t.Fatal(err)
	}
	roots := map[string]int64{}
	for _, name := range []string{"damage_source", "idx_edges_target"} {
		var root int64
		if err := raw.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, name).Scan(&root); err != nil {
			t.Fatal(err)
		}
		roots[name] = root
	}
	for _, stmt := range []string{
		`PRAGMA writable_schema = ON`,
		fmt.Sprintf(`UPDATE sqlite_master SET rootpage = %d WHERE name = 'damage_source'`, roots["idx_edges_target"]),
		fmt.Sprintf(`UPDATE sqlite_master SET rootpage = %d WHERE name = 'idx_edges_target'`, roots["damage_source"]),
		`PRAGMA writable_schema = OFF`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestBackup(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	dest := filepath.Join(t.TempDir(), "copy.db")
	var b backupResult
	decode(t, mustCLI(t, 0, "", "--db", db, "backup", dest, "--verify", "--json"), &b)
	if !b.Verified || b.Bytes == 0 || b.Dest != dest {
		t.Errorf("backup --json: %+v", b)
	}
	var st struct {
		DB string `json:"db"`
		resonance.Stats
	}
	decode(t, mustCLI(t, 0, "", "--db", dest, "stats", "--json"), &st)
	if st.Nodes < 200 {
		t.Errorf("the copy holds %d nodes", st.Nodes)
	}
	r := mustCLI(t, 1, "", "--db", db, "backup", dest)
	if !strings.Contains(r.stderr, dest) {
		t.Errorf("backup over an existing file: stderr %q does not name it", r.stderr)
	}
	dest2 := filepath.Join(t.TempDir(), "copy2.db")
	p := mustCLI(t, 0, "", "--db", db, "backup", "--progress", "always", dest2)
	if !strings.Contains(p.stderr, "\rbackup [") || !strings.Contains(p.stderr, "100%") || !strings.Contains(p.stdout, "written to "+dest2) {
		t.Errorf("backup --progress always:\nstdout %q\nstderr %q", p.stdout, p.stderr)
	}
	if q := mustCLI(t, 0, "", "--db", db, "backup", filepath.Join(t.TempDir(), "c3.db")); q.stderr != "" {
		t.Errorf("backup drew progress on a non-terminal stderr: %q", q.stderr)
	}
}

// TestInit_ExampleNeverReplacesTheUsersNodes: init --example on a database
// that holds a node (or an edge) of the user's with one of the example's
// keys refuses, naming it, and changes nothing.
func TestInit_ExampleNeverReplacesTheUsersNodes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mine := `{"kind":"node","id":"lexicon-checkpoint","type":"mine","title":"MY OWN DATA"}` + "\n"
	mustCLI(t, 0, "", "--db", db, "init")
	mustCLI(t, 0, mine, "--db", db, "import", "-")
	r := mustCLI(t, 1, "", "--db", db, "init", "--example")
	if !strings.Contains(r.stderr, `"lexicon-checkpoint" exists already`) {
		t.Errorf("init --example over the user's node: stderr does not name it:\n%s", r.stderr)
	}
	out := mustCLI(t, 0, "", "--db", db, "export")
	if strings.Count(out.stdout, "\n") != 1 || !strings.Contains(out.stdout, "MY OWN DATA") {
		t.Errorf("after a refused init --example the database holds:\n%s", out.stdout)
	}
}

// TestOutput_SpeaksWords: settings are printed as the SQLite keywords,
// counts agree with their nouns, and a missing database is explained in
// the CLI's terms, not the library's field names.
func TestOutput_SpeaksWords(t *testing.T) {
	db := newDB(t)
	h := mustCLI(t, 0, "", "--db", db, "health")
	for _, want := range []string{"synchronous   NORMAL", "temp_store    MEMORY", "foreign_keys  ON"} {
		if !strings.Contains(h.stdout, want) {
			t.Errorf("health does not say %q:\n%s", want, h.stdout)
		}
	}
	in := `{"kind":"node","id":"a","type":"t"}` + "\n"
	if r := mustCLI(t, 0, in, "--db", db, "import", "-"); !strings.Contains(r.stdout, "imported 1 node and 0 edges from 1 line of -") || !strings.Contains(r.stdout, "1 transaction)") {
		t.Errorf("import of one node: %q", r.stdout)
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, cmd := range []string{"stats", "health", "search"} {
		r := cli(t, "", "--db", missing, cmd, "--like", "a")
		if cmd != "search" {
			r = mustCLI(t, 1, "", "--db", missing, cmd)
		}
		if !strings.Contains(r.stderr, "resonance init --db "+missing) || strings.Contains(r.stderr, "Options.") || strings.Count(r.stderr, "not exist") != 1 {
			t.Errorf("%s on a missing database: %q, want `resonance init` said once and no Go names", cmd, r.stderr)
		}
	}
	dest := filepath.Join(t.TempDir(), "taken")
	if err := os.WriteFile(dest, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mustCLI(t, 1, "", "--db", db, "backup", dest); strings.Count(r.stderr, "exists") != 1 {
		t.Errorf("backup to an existing file: %q, want it said once", r.stderr)
	}
}
