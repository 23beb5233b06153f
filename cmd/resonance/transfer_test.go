package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/cmd/resonance/example"

	"github.com/resonance-graph/resonancedb/resonance"
)

// lines writes n JSONL lines: every fifth an edge between the two nodes
// before it, the others node "n%06d" of their line number. bad, when not 0,
// is replaced by a node without an id.
func lines(t *testing.T, n, bad int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		switch {
		case i == bad:
			fmt.Fprintf(&b, `{"kind":"node","type":"t","title":"no id on line %d"}`+"\n", i)
		case i%5 == 0:
			fmt.Fprintf(&b, `{"kind":"edge","source":"n%06d","target":"n%06d","type":"next","confidence":0.5}`+"\n", i-1, i-2)
		default:
			fmt.Fprintf(&b, `{"kind":"node","id":"n%06d","type":"t","title":"node %d","meta":{"line":%d}}`+"\n", i, i, i)
		}
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// present counts the nodes and edges of lines [from, to] in the database.
func present(t *testing.T, db string, from, to int) (nodes, edges int64) {
	t.Helper()
	nodes = count(t, db, `SELECT count(*) FROM nodes WHERE id BETWEEN ? AND ?`, fmt.Sprintf("n%06d", from), fmt.Sprintf("n%06d", to))
	edges = count(t, db, `SELECT count(*) FROM edges WHERE source BETWEEN ? AND ?`, fmt.Sprintf("n%06d", from-1), fmt.Sprintf("n%06d", to-1))
	return nodes, edges
}

// TestImport_100000Lines: a 100,000-line import finishes with every row
// present; the same file with a bad line 50,001 names the line, writes
// nothing of its batch and keeps the 50,000 lines before it.
func TestImport_100000Lines(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 150,000 lines")
	}
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		var res importResult
		decode(t, mustCLI(t, 0, "", "--db", db, "import", lines(t, 100000, 0), "--json"), &res)
		if res.Nodes != 80000 || res.Edges != 20000 || res.Lines != 100000 || res.Batches != 100 || res.CommittedLines != 100000 {
			t.Errorf("import --json: %+v", res)
		}
		if n, e := present(t, db, 1, 100000); n != 80000 || e != 20000 {
			t.Errorf("%d nodes, %d edges present, want 80000, 20000", n, e)
		}
		if n := count(t, db, `SELECT count(*) FROM nodes`) + count(t, db, `SELECT count(*) FROM edges`); n != 100000 {
			t.Errorf("%d rows in all, want 100000", n)
		}
	})
	t.Run("bad line 50001", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		bad := lines(t, 100000, 50001)
		r := mustCLI(t, 1, "", "--db", db, "import", bad)
		for _, want := range []string{`line 50001: field "id"`, "nothing of its batch (lines 50001–51000) was written",
			"lines 1–50000 are committed (40,000 nodes, 10,000 edges)", "--skip 50000 " + bad} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if n, e := present(t, db, 1, 50000); n != 40000 || e != 10000 {
			t.Errorf("lines 1–50000: %d nodes, %d edges present, want 40000, 10000", n, e)
		}
		if n, e := present(t, db, 50001, 100000); n != 0 || e != 0 {
			t.Errorf("lines 50001–100000: %d nodes, %d edges written, want none", n, e)
		}
		if h := count(t, db, `SELECT count(*) FROM history`); h != 50000 {
			t.Errorf("%d history rows, want 50000", h)
		}
	})
}

func TestImport_BadLineMidBatch(t *testing.T) {
	db := newDB(t)
	in := lines(t, 2500, 1700)
	r := mustCLI(t, 1, "", "--db", db, "import", in, "--batch", "1000")
	for _, want := range []string{"line 1700", "nothing of its batch (lines 1001–2000) was written", "lines 1–1000 are committed (800 nodes, 200 edges)", "--skip 1000"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n, e := present(t, db, 1, 1000); n != 800 || e != 200 {
		t.Errorf("lines 1–1000: %d nodes, %d edges, want 800, 200", n, e)
	}
	if n, e := present(t, db, 1001, 2500); n != 0 || e != 0 {
		t.Errorf("lines 1001–2500: %d nodes, %d edges written, want none", n, e)
	}

	var res importResult
	decode(t, mustCLI(t, 1, "", "--db", db, "import", in, "--batch", "1000", "--skip", "1000", "--json"), &res)
	if res.FailedLine != 1700 || res.CommittedLines != 1000 || !strings.Contains(res.Resume, "--skip 1000") || !strings.Contains(res.Error, "this run committed nothing") {
		t.Errorf("import --json failure: %+v", res)
	}

	// Resuming with the --skip the error named, on the fixed file, imports
	// the rest: every row present once.
	res = importResult{}
	decode(t, mustCLI(t, 0, "", "--db", db, "import", lines(t, 2500, 0), "--skip", "1000", "--json"), &res)
	if res.Skipped != 1000 || res.Nodes != 1200 || res.Edges != 300 || res.Lines != 2500 {
		t.Errorf("resumed import: %+v", res)
	}
	if n, e := present(t, db, 1, 2500); n != 2000 || e != 500 {
		t.Errorf("after resuming: %d nodes, %d edges, want 2000, 500", n, e)
	}
	if h := count(t, db, `SELECT count(*) FROM history`); h != 2500 {
		t.Errorf("%d history rows after resuming, want 2500 (one per line)", h)
	}
}

func TestImport_FirstBatchBad(t *testing.T) {
	db := newDB(t)
	r := mustCLI(t, 1, "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n\n{\"kind\":\"node\",\"id\":\"b\",\"type\":\"t\",\"meta\":[1]}\n", "--db", db, "import", "-")
	if !strings.Contains(r.stderr, `line 3: field "meta": want a JSON object, got an array`) || !strings.Contains(r.stderr, "this run committed nothing") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 0 {
		t.Errorf("%d nodes written", n)
	}
}

func TestImport_Stdin(t *testing.T) {
	db := newDB(t)
	in := "\n{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n  \n{\"kind\":\"edge\",\"source\":\"a\",\"target\":\"b\"}\n"
	r := mustCLI(t, 0, in, "--db", db, "import", "-", "--progress", "always", "--batch", "2")
	if !strings.Contains(r.stdout, "imported 1 node and 1 edge from 4 lines") {
		t.Errorf("stdout: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "\rimport: 4 lines, 1 node, 1 edge") {
		t.Errorf("--progress always drew no progress: %q", r.stderr)
	}
	if n := count(t, db, `SELECT count(*) FROM edges WHERE confidence = 1 AND veracity = 1 AND type = 'related_to'`); n != 1 {
		t.Errorf("edge defaults not applied")
	}
	// Importing the same lines again changes nothing but history.
	mustCLI(t, 0, in, "--db", db, "import", "-")
	if n := count(t, db, `SELECT count(*) FROM nodes`) + count(t, db, `SELECT count(*) FROM edges`); n != 2 {
		t.Errorf("%d rows after importing twice, want 2", n)
	}
	if q := mustCLI(t, 0, in, "--db", db, "import", "-"); q.stderr != "" {
		t.Errorf("import drew progress on a non-terminal stderr: %q", q.stderr)
	}
}

func TestImport_MissingFile(t *testing.T) {
	db := newDB(t)
	r := mustCLI(t, 1, "", "--db", db, "import", filepath.Join(t.TempDir(), "nope.jsonl"))
	if !strings.Contains(r.stderr, "nope.jsonl") {
		t.Errorf("stderr %q does not name the file", r.stderr)
	}
}

// TestExport_RoundTrip: import → export → import → export gives the same
// bytes, and the data of the example graph line for line.
func TestExport_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.db")
	mustCLI(t, 0, "", "--db", a, "init", "--example")
	// An edge whose source node does not exist must survive too.
	mustCLI(t, 0, `{"kind":"edge","source":"ghost","target":"lexicon-node","type":"haunts","confidence":0.25,"veracity":0.5,"context_source":"x"}`+"\n", "--db", a, "import", "-")

	first := filepath.Join(dir, "first.jsonl")
	var res exportResult
	decode(t, mustCLI(t, 0, "", "--db", a, "export", first, "--json"), &res)
	if res.Nodes < 200 || res.Edges < 200 || res.Bytes == 0 || res.File != first {
		t.Errorf("export --json: %+v", res)
	}
	b := filepath.Join(dir, "b.db")
	mustCLI(t, 0, "", "--db", b, "init")
	mustCLI(t, 0, "", "--db", b, "import", first)
	second := mustCLI(t, 0, "", "--db", b, "export")
	firstBytes, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if second.stdout != string(firstBytes) {
		t.Fatalf("export after a round trip differs from the first export")
	}
	if second.stderr != "" {
		t.Errorf("export to stdout printed on a non-terminal stderr: %q", second.stderr)
	}
	// The same lines as the example graph, plus the ghost edge.
	want := strings.Split(strings.TrimSpace(string(example.Graph)), "\n")
	got := strings.Split(strings.TrimSpace(second.stdout), "\n")
	if len(got) != len(want)+1 {
		t.Fatalf("export has %d lines, want %d", len(got), len(want)+1)
	}
	set := map[string]bool{}
	for _, l := range got {
		set[l] = true
	}
	for i, l := range want {
		if !set[l] {
			t.Fatalf("example line %d is not exported as it was:\n%.300s", i+1, l)
		}
	}
	if !bytes.HasPrefix(firstBytes, []byte(`{"kind":"node"`)) || !strings.Contains(second.stdout, `"source":"ghost"`) {
		t.Errorf("export does not start with nodes, or lost the ghost edge")
	}

	r := mustCLI(t, 1, "", "--db", a, "export", first)
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("export over an existing file: %q", r.stderr)
	}
	mustCLI(t, 0, "", "--db", a, "export", first, "--force")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestImport_NodeRefusedBySQLiteNamesItsLine: import writes each run of
// nodes with one UpsertNodes; when SQLite refuses one of them (here a
// trigger of the application's), the error still names its line, and
// nothing of the batch is written.
func TestImport_NodeRefusedBySQLiteNamesItsLine(t *testing.T) {
	db := newDB(t)
	conn, err := resonance.Connect(t.Context(), db, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(`CREATE TRIGGER no_bad BEFORE INSERT ON nodes WHEN NEW.id = 'bad'
BEGIN SELECT RAISE(ABORT, 'the application refuses this node'); END`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := 1; i <= 40; i++ {
		id := fmt.Sprintf("n%d", i)
		if i == 37 {
			id = "bad"
		}
		fmt.Fprintf(&in, `{"kind":"node","id":%q,"type":"t"}`+"\n", id)
	}
	r := mustCLI(t, 1, in.String(), "--db", db, "import", "-")
	if !strings.Contains(r.stderr, "line 37") || !strings.Contains(r.stderr, "the application refuses this node") {
		t.Errorf("stderr does not name line 37 and the cause:\n%s", r.stderr)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 0 {
		t.Errorf("%d nodes written", n)
	}
}

// TestImport_ZeroConfidenceStaysZero: JSON Lines tell a missing field from
// 0: an edge without confidence and veracity takes 1, one with 0 keeps 0,
// and export then import gives back the same lines (D3).
func TestImport_ZeroConfidenceStaysZero(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.db")
	mustCLI(t, 0, "", "--db", a, "init")
	in := `{"kind":"edge","source":"s","target":"zero","type":"t","confidence":0,"veracity":0}` + "\n" +
		`{"kind":"edge","source":"s","target":"half","type":"t","confidence":0,"veracity":0.5}` + "\n" +
		`{"kind":"edge","source":"s","target":"absent","type":"t"}` + "\n"
	mustCLI(t, 0, in, "--db", a, "import", "-")
	for _, tt := range []struct {
		target     string
		conf, vera float64
	}{{"zero", 0, 0}, {"half", 0, 0.5}, {"absent", 1, 1}} {
		if n := count(t, a, `SELECT count(*) FROM edges WHERE target = ? AND confidence = ? AND veracity = ?`, tt.target, tt.conf, tt.vera); n != 1 {
			t.Errorf("edge to %s: want confidence %v and veracity %v stored", tt.target, tt.conf, tt.vera)
		}
	}
	first := mustCLI(t, 0, "", "--db", a, "export").stdout
	if !strings.Contains(first, `"target":"zero","type":"t","confidence":0,"veracity":0`) {
		t.Errorf("export lost the zeros:\n%s", first)
	}
	b := filepath.Join(dir, "b.db")
	mustCLI(t, 0, "", "--db", b, "init")
	mustCLI(t, 0, first, "--db", b, "import", "-")
	if second := mustCLI(t, 0, "", "--db", b, "export").stdout; second != first {
		t.Errorf("export → import → export is not the identity:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
}

// TestExport_CorruptEmbedding: a stored embedding that is not a whole
// finite float32 vector (NaN, a length not a multiple of 4, a TEXT value)
// does not stop export: every node is written, those without their
// embedding, with a warning naming them, and import reads back what export
// wrote. integrity and doctor name those nodes and the fix.
func TestExport_CorruptEmbedding(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.db")
	mustCLI(t, 0, "", "--db", a, "init")
	in := `{"kind":"node","id":"good","type":"doc","embedding":[1,2]}` + "\n" +
		`{"kind":"node","id":"nan","type":"doc","title":"N"}` + "\n" +
		`{"kind":"node","id":"short","type":"doc","title":"S"}` + "\n" +
		`{"kind":"edge","source":"good","target":"nan"}` + "\n"
	mustCLI(t, 0, in, "--db", a, "import", "-")
	db, err := resonance.Connect(t.Context(), a, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id, blob := range map[string][]byte{"nan": {0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f}, "short": {1, 2, 3, 4, 5}} {
		if _, err := db.Exec(`UPDATE nodes SET embedding = ? WHERE id = ?`, blob, id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	r := mustCLI(t, 0, "", "--db", a, "export")
	for _, id := range []string{"nan", "short"} {
		if !strings.Contains(r.stdout, `{"kind":"node","id":"`+id+`","type":"doc","title":"`) {
			t.Errorf("export lacks node %s:\n%s", id, r.stdout)
		}
		if !strings.Contains(r.stderr, `"`+id+`"`) {
			t.Errorf("export's warning does not name %s: %q", id, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, `"id":"good","type":"doc","domain":"knowledge","layer":"experience","embedding":[1,2]`) || !strings.Contains(r.stdout, `"kind":"edge"`) {
		t.Errorf("export lost the good node's embedding or the edge:\n%s", r.stdout)
	}
	b := filepath.Join(dir, "b.db")
	mustCLI(t, 0, "", "--db", b, "init")
	mustCLI(t, 0, r.stdout, "--db", b, "import", "-")
	if again := mustCLI(t, 0, "", "--db", b, "export"); again.stdout != r.stdout || again.stderr != "" {
		t.Errorf("import did not read back what export wrote:\n%s\nwarnings: %q", again.stdout, again.stderr)
	}

	for _, cmd := range [][]string{{"integrity"}, {"doctor"}} {
		r := mustCLI(t, 1, "", append([]string{"--db", a}, cmd...)...)
		out := r.stdout + r.stderr
		if !strings.Contains(out, `"nan"`) || !strings.Contains(out, `"short"`) || strings.Contains(out, `"good"`) || !strings.Contains(out, "UPDATE nodes SET embedding = NULL") {
			t.Errorf("%s: want the nodes nan and short named with the fix, not good:\n%s", cmd[0], out)
		}
	}
}

// TestProgress_KnownSizeShowsShareAndTimeLeft: with the input's size known
// (a file) the import's progress line says how much of it is read, the
// percentage and, once there is a rate, the time left; from a pipe it
// counts lines only. Export counts its rows against the snapshot's.
func TestProgress_KnownSizeShowsShareAndTimeLeft(t *testing.T) {
	p := &progress{start: time.Now().Add(-10 * time.Second)}
	if got, want := p.of(25, 100, thousands), "25 of 100, 25%, about 30s left"; got != want {
		t.Errorf("of(25, 100) = %q, want %q", got, want)
	}
	if got := p.of(7, 0, thousands); got != "7" {
		t.Errorf("of with the total unknown = %q, want the count alone", got)
	}
	if got := p.of(100, 100, thousands); got != "100 of 100, 100%" {
		t.Errorf("of(100, 100) = %q, want no time left", got)
	}

	db := newDB(t)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte("{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n{\"kind\":\"node\",\"id\":\"b\",\"type\":\"t\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustCLI(t, 0, "", "--db", db, "import", in, "--progress", "always")
	if !strings.Contains(r.stderr, "import: 72 B of 72 B, 100%, 2 lines, 2 nodes, 0 edges") {
		t.Errorf("import of a file: progress %q, want the bytes read of the file's size and the share", r.stderr)
	}
	ex := mustCLI(t, 0, "", "--db", db, "export", filepath.Join(t.TempDir(), "out.jsonl"), "--progress", "always")
	if !strings.Contains(ex.stderr, "export: rows 2 of 2, 100% (2 nodes, 0 edges)") {
		t.Errorf("export: progress %q, want the rows written of the snapshot's", ex.stderr)
	}
}
