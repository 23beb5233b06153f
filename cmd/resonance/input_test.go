package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestImport_InvalidUTF8: bytes that are not UTF-8 stop the import naming
// the line and the field, and nothing of the batch is written (the ids
// "k\xff" and "k\xfe" must not merge into one node).
func TestImport_InvalidUTF8(t *testing.T) {
	db := newDB(t)
	in := "{\"kind\":\"node\",\"id\":\"ok\",\"type\":\"t\"}\n{\"kind\":\"node\",\"id\":\"k\xff\",\"type\":\"t\"}\n{\"kind\":\"node\",\"id\":\"k\xfe\",\"type\":\"t\"}\n"
	r := mustCLI(t, 1, in, "--db", db, "import", "-")
	if !strings.Contains(r.stderr, `line 2: field "id": not valid UTF-8`) || !strings.Contains(r.stderr, "this run committed nothing") {
		t.Errorf("stderr %q, want line 2, field id, invalid UTF-8", r.stderr)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 0 {
		t.Errorf("%d nodes written", n)
	}
}

// TestImport_ByteOrderMark: a file that starts with a UTF-8 byte-order mark
// imports; a mark at the start of a later line is refused naming it.
func TestImport_ByteOrderMark(t *testing.T) {
	db := newDB(t)
	const bom = "\xef\xbb\xbf"
	path := filepath.Join(t.TempDir(), "bom.jsonl")
	if err := os.WriteFile(path, []byte(bom+"{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n{\"kind\":\"node\",\"id\":\"b\",\"type\":\"t\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, 0, "", "--db", db, "import", path)
	mustCLI(t, 0, "", "--db", db, "import", path, "--skip", "1")
	if n := count(t, db, `SELECT count(*) FROM nodes WHERE id IN ('a', 'b')`); n != 2 {
		t.Errorf("%d of the nodes a and b imported, want 2", n)
	}
	r := mustCLI(t, 1, "{\"kind\":\"node\",\"id\":\"c\",\"type\":\"t\"}\n"+bom+"{\"kind\":\"node\",\"id\":\"d\",\"type\":\"t\"}\n", "--db", db, "import", "-")
	if !strings.Contains(r.stderr, "line 2: a byte-order mark") {
		t.Errorf("a mark starting line 2: %q", r.stderr)
	}
}

// TestFlags_Bounded: numeric flags out of their range are usage errors
// (exit 2) saying the range, before anything is opened or allocated (O5).
func TestFlags_Bounded(t *testing.T) {
	db := newDB(t)
	in := lines(t, 3, 0)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", in, "--batch", "100000000"}, "--batch is 100000000: want 1 to 100000"},
		{[]string{"import", in, "--batch", "9223372036854775807"}, "want 1 to 100000"},
		{[]string{"import", in, "--batch", "-1"}, "want 1 to 100000"},
		{[]string{"import", in, "--skip", "-1"}, "want 0 or more"},
		{[]string{"export", "--page", "100000000"}, "--page is 100000000: want 1 to 100000"},
		{[]string{"export", "--page", "0"}, "want 1 to 100000"},
		{[]string{"bench", "--reps", "1000000000"}, "--reps is 1000000000: want 1 to 100"},
		{[]string{"vacuum", "--incremental", "--pages", "-5"}, "want 0 (every free page) or more"},
	} {
		args := tc.args
		if args[0] != "bench" { // bench takes no --db
			args = append([]string{"--db", db}, args...)
		}
		r := mustCLI(t, 2, "", args...)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q, want %q", strings.Join(tc.args, " "), r.stderr, tc.want)
		}
	}
	// The largest batch does not allocate for its size up front: a 3-line
	// import with --batch 100000 allocates little.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mustCLI(t, 0, "", "--db", db, "import", in, "--batch", "100000")
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
		t.Errorf("a 3-line import with --batch 100000 allocated %d MiB", grown>>20)
	}
	// A --skip beyond the end skips everything.
	r := mustCLI(t, 0, "", "--db", db, "import", in, "--skip", "9223372036854775807", "--json")
	if !strings.Contains(r.stdout, `"skipped": 3`) {
		t.Errorf("--skip past the end: %s", r.stdout)
	}
}

// TestErrors_NoStutter: an error of the library inside a command's message
// carries the "resonance:" prefix once, at the start.
func TestErrors_NoStutter(t *testing.T) {
	db := newDB(t)
	raw, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	// A deferred foreign key that the imported node violates fails at
	// COMMIT; a trigger refuses node "bad" at its upsert.
	for _, stmt := range []string{
		`CREATE TABLE parent (id TEXT PRIMARY KEY)`,
		`CREATE TABLE child (p TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`,
		`CREATE TRIGGER orphan AFTER INSERT ON nodes WHEN NEW.id = 'orphan' BEGIN INSERT INTO child VALUES ('none'); END`,
		`CREATE TRIGGER refuse BEFORE INSERT ON nodes WHEN NEW.id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	for _, id := range []string{"orphan", "bad"} {
		r := mustCLI(t, 1, `{"kind":"node","id":"`+id+`","type":"t"}`+"\n", "--db", db, "import", "-")
		if !strings.HasPrefix(r.stderr, "resonance: import") || strings.Count(r.stderr, "resonance:") != 1 {
			t.Errorf("import of %s: %q, want one resonance: prefix", id, r.stderr)
		}
	}
}

// TestDB_NotARegularFile: --db naming a device or a named pipe is refused
// naming what it is, and nothing is created beside it (O5).
func TestDB_NotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, before := os.Lstat("/dev/null-journal")
	for _, tc := range []struct{ path, kind string }{{"/dev/null", "character device"}, {fifo, "named pipe"}, {dir, "directory"}} {
		for _, cmd := range []string{"init", "health", "stats", "import", "doctor"} {
			args := []string{"--db", tc.path, cmd}
			if cmd == "import" {
				args = append(args, lines(t, 1, 0))
			}
			r := cli(t, "", args...)
			kind := tc.kind
			if cmd == "doctor" {
				kind = "not a database file" // doctor examines the path without opening it
			}
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, kind) {
				t.Errorf("%s on %s: exit %d, %q %q, want a failure naming %q", cmd, tc.path, r.code, r.stdout, r.stderr, kind)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files created beside the named pipe: %v", entries)
	}
	if _, err := os.Lstat("/dev/null-journal"); before != nil && err == nil {
		os.Remove("/dev/null-journal")
		t.Errorf("/dev/null-journal was created")
	}
}

// TestStats_EmptyFileWritesNothing: stats (read-only) on an empty file
// fails and leaves it empty, with no -wal or -shm beside it.
func TestStats_EmptyFileWritesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(db, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"stats", "integrity", "export"} {
		r := mustCLI(t, 1, "", "--db", db, cmd)
		if !strings.Contains(r.stderr, "empty") || !strings.Contains(r.stderr, "resonance init") {
			t.Errorf("%s on an empty file: %q", cmd, r.stderr)
		}
	}
	if fi, _ := os.Stat(db); fi.Size() != 0 {
		t.Errorf("the empty file now holds %d bytes", fi.Size())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files created beside the empty file: %v", entries)
	}
}

// TestIntegrity_CountMatchesList: the number of problems integrity reports
// is the number of problem lines it lists.
// Damage to b-tree pages is what SQLite reports as one row of many lines.
func TestIntegrity_CountMatchesList(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	damagePages(t, db)
	r := mustCLI(t, 1, "", "--db", db, "integrity")
	head, list, _ := strings.Cut(r.stdout, "\n")
	var n int
	if _, err := fmt.Sscanf(head[strings.LastIndex(head, ": ")+2:], "%d problems:", &n); err != nil {
		t.Fatalf("first line %q: %v", head, err)
	}
	listed := strings.Count(list, "\n")
	if n == 0 || n != listed {
		t.Errorf("integrity counts %d problem(s) and lists %d lines:\n%s", n, listed, r.stdout)
	}
	if !strings.Contains(r.stderr, "(") || !strings.Contains(r.stderr, " problems)") {
		t.Errorf("stderr %q", r.stderr)
	}
	var integ struct {
		DB       string   `json:"db"`
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	decode(t, mustCLI(t, 1, "", "--db", db, "integrity", "--json"), &integ)
	for _, p := range integ.Problems {
		if strings.Contains(p, "\n") {
			t.Errorf("problem %q spans lines", p)
		}
	}
	if len(integ.Problems) != n {
		t.Errorf("--json lists %d problems, the text %d", len(integ.Problems), n)
	}
}

// damagePages creates the example graph at db, checkpoints it into the
// database file, and overwrites the cell pointers of four of its pages,
// which integrity_check reports as one row holding a line per bad cell.
func damagePages(t *testing.T, db string) {
	t.Helper()
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	mustCLI(t, 0, "", "--db", db, "checkpoint")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte(strings.Repeat("\xff", 32))
	for page := int64(40); page <= 43; page++ {
		if _, err := f.WriteAt(junk, (page-1)*4096+8); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
}
