package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestRestore: a backup comes back in place of the database, which is kept
// in backups/; integrity passes; what is not a good backup is refused and
// changes nothing.
func TestRestore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	backup := filepath.Join(t.TempDir(), "b.db")
	mustCLI(t, 0, "", "--db", db, "backup", backup)
	nodes := count(t, db, "SELECT count(*) FROM nodes")
	mustCLI(t, 0, "", "--db", db, "rm", "lexicon-write-ahead-log")
	// An uncheckpointed write sits in the WAL of the database replaced.
	s, err := resonance.Open(context.Background(), db, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "after-the-backup", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	mode := fileMode(t, db)

	// What an interrupted restore left goes; a running one's stays.
	stale := filepath.Join(dir, ".graph.db.restore-999999999-0011223344556677")
	live := filepath.Join(dir, fmt.Sprintf(".graph.db.restore-%d-0011223344556677", os.Getpid()))
	for _, f := range []string{stale, stale + "-wal", live} {
		os.WriteFile(f, []byte("partial"), 0o600)
	}
	var res restoreResult
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "restore", backup), &res)
	for f, want := range map[string]bool{stale: false, stale + "-wal": false, live: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
	os.Remove(live)
	if got := count(t, db, "SELECT count(*) FROM nodes"); got != nodes {
		t.Errorf("after restore: %d nodes, want the backup's %d", got, nodes)
	}
	mustCLI(t, 0, "", "--db", db, "integrity")
	if got := count(t, res.Kept, "SELECT count(*) FROM nodes WHERE id IN ('after-the-backup', 'lexicon-write-ahead-log')"); got != 1 {
		t.Errorf("the kept database %s holds %d of the newer node and the deleted one, want only the newer", res.Kept, got)
	}
	if filepath.Dir(res.Kept) != filepath.Join(dir, "backups") {
		t.Errorf("kept as %q, want it in backups/ beside the database", res.Kept)
	}
	if got := fileMode(t, db); got != mode {
		t.Errorf("the restored database has mode %v, want the replaced one's %v", got, mode)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".restore-") {
			t.Errorf("restore left %s behind", e.Name())
		}
	}

	notDB := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDB, []byte("hello, not a database at all"), 0o644)
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	mustCLI(t, 0, "", "--db", damaged, "init", "--example")
	damage(t, damaged)
	for _, bad := range []struct{ file, says string }{
		{notDB, "not a SQLite database"},
		{db, "the database itself"},
		{damaged, "integrity_check"},
		{filepath.Join(dir, "missing.db"), "no such file"},
		{dir, "not a regular file"},
	} {
		before := count(t, db, "SELECT count(*) FROM history")
		r := mustCLI(t, 1, "", "--db", db, "restore", bad.file)
		if !strings.Contains(r.stderr, bad.says) {
			t.Errorf("restore %s: %q does not say %q", bad.file, r.stderr, bad.says)
		}
		if count(t, db, "SELECT count(*) FROM history") != before {
			t.Errorf("a refused restore of %s changed the database", bad.file)
		}
	}
	mustCLI(t, 2, "", "--db", db, "restore")
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// TestRestore_RefusedWhileOpen: restoring over a database another process
// holds open is refused, naming the process, and changes nothing; once it
// has closed the database, the restore goes through.
func TestRestore_RefusedWhileOpen(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	backup := filepath.Join(t.TempDir(), "b.db")
	mustCLI(t, 0, "", "--db", db, "backup", backup)
	mustCLI(t, 0, "", "--db", db, "rm", "lexicon-write-ahead-log")

	for _, readOnly := range []bool{false, true} {
		holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldOpen$")
		holder.Env = append(os.Environ(), "RESONANCE_HOLD_DB="+db, fmt.Sprintf("RESONANCE_HOLD_RO=%v", readOnly))
		stdin, _ := holder.StdinPipe()
		stdout, _ := holder.StdoutPipe()
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
			t.Fatalf("the holding process said %q, %v", line, err)
		}
		r := mustCLI(t, 1, "", "--db", db, "restore", backup)
		if !strings.Contains(r.stderr, fmt.Sprintf("open in process %d", holder.Process.Pid)) {
			t.Errorf("read-only %v: restore while another process has the database open: %q does not name it", readOnly, r.stderr)
		}
		if count(t, db, "SELECT count(*) FROM nodes WHERE id = 'lexicon-write-ahead-log'") != 0 {
			t.Fatal("the refused restore replaced the database")
		}
		stdin.Close()
		if err := holder.Wait(); err != nil {
			t.Fatalf("the holding process: %v", err)
		}
	}
	mustCLI(t, 0, "", "--db", db, "restore", backup)
	if count(t, db, "SELECT count(*) FROM nodes WHERE id = 'lexicon-write-ahead-log'") != 1 {
		t.Error("the restore after the holder closed did not bring the backup back")
	}
}

// TestHelperHoldOpen is not a test: as the child of
// TestRestore_RefusedWhileOpen it opens the database, reads a node, says
// "open" and keeps it open until its stdin closes.
func TestHelperHoldOpen(t *testing.T) {
	path := os.Getenv("RESONANCE_HOLD_DB")
	if path == "" {
		t.Skip("runs only as the child of TestRestore_RefusedWhileOpen")
	}
	s, err := resonance.Open(context.Background(), path, resonance.Options{ReadOnly: os.Getenv("RESONANCE_HOLD_RO") == "true"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Reads().GetNode(context.Background(), "lexicon-checkpoint"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestRestore_Force: a database that cannot be opened is replaced only
// with --force, and its files are kept as they were.
func TestRestore_Force(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	backup := filepath.Join(t.TempDir(), "b.db")
	mustCLI(t, 0, "", "--db", backup, "init", "--example")
	junk := []byte("this was a database before the disk ate it")
	os.WriteFile(db, junk, 0o644)
	r := mustCLI(t, 1, "", "--db", db, "restore", backup)
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore over a file that is no database: %q does not offer --force", r.stderr)
	}
	var res restoreResult
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "restore", "--force", backup), &res)
	mustCLI(t, 0, "", "--db", db, "integrity")
	if b, _ := os.ReadFile(res.Kept); string(b) != string(junk) {
		t.Errorf("the replaced file was not kept as it was: %q", b)
	}
}
