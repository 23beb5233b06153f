package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOutput_RefusesTheDatabase: export --force and backup onto the
// database, its -wal, -shm or -journal, a symbolic or hard link to it, a
// device or a directory exit 1 naming the target, and the database is
// intact afterwards (O5).
func TestOutput_RefusesTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	nodes := count(t, db, `SELECT count(*) FROM nodes`)
	history := count(t, db, `SELECT count(*) FROM history`)
	other := t.TempDir()
	link, hard, dir := filepath.Join(other, "link.db"), filepath.Join(other, "hard.db"), filepath.Join(other, "sub")
	for _, err := range []error{os.Symlink(db, link), os.Link(db, hard), os.Mkdir(dir, 0o755)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, dest := range []string{db, db + "-wal", db + "-shm", db + "-journal", link, hard, "/dev/null", dir} {
		for _, args := range [][]string{{"export", dest, "--force"}, {"export", dest}, {"backup", dest}} {
			r := mustCLI(t, 1, "", append([]string{"--db", db}, args...)...)
			if !strings.Contains(r.stderr, dest) || strings.Contains(r.stderr, ".tmp-") {
				t.Errorf("%s: stderr %q, want the target named", strings.Join(args, " "), r.stderr)
			}
		}
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != nodes {
		t.Errorf("%d nodes after the refusals, want %d", n, nodes)
	}
	if h := count(t, db, `SELECT count(*) FROM history`); h != history {
		t.Errorf("%d history rows after the refusals, want %d", h, history)
	}
	mustCLI(t, 0, "", "--db", db, "integrity")
	for _, d := range []string{filepath.Dir(db), other, dir} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the directory target was written into: %v", entries)
	}
}

// TestExport_DanglingSymlinkAndMissingDirectory: a symbolic link whose
// target is missing is replaced only with --force; a missing directory is
// named as such, not by a temporary file's name.
func TestExport_DanglingSymlinkAndMissingDirectory(t *testing.T) {
	db := newDB(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "out.jsonl")
	if err := os.Symlink(filepath.Join(dir, "gone", "target.jsonl"), link); err != nil {
		t.Fatal(err)
	}
	r := mustCLI(t, 1, "", "--db", db, "export", link)
	if !strings.Contains(r.stderr, "symbolic link") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("export onto a dangling link: %q, want the link named and --force suggested", r.stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the dangling link was replaced without --force")
	}
	mustCLI(t, 0, "", "--db", db, "export", link, "--force")
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("export --force onto a dangling link: %v %v, want a regular file", fi, err)
	}

	missing := filepath.Join(dir, "no", "such")
	r = mustCLI(t, 1, "", "--db", db, "export", filepath.Join(missing, "out.jsonl"))
	if !strings.Contains(r.stderr, `directory "`+missing+`" does not exist`) || strings.Contains(r.stderr, ".tmp-") {
		t.Errorf("export into a missing directory: %q, want the directory named", r.stderr)
	}
}

// TestExport_FullDisk: an export that fills its file system fails naming
// the output file and the cause, not a node, and leaves nothing behind.
func TestExport_FullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	out := filepath.Join(small, "out.jsonl")
	r := mustCLI(t, 1, "", "--db", db, "export", out)
	if !strings.Contains(r.stderr, `"`+out+`"`) || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stderr, `node "`) {
		t.Errorf("export onto a full file system: %q, want the output file and ENOSPC, no node", r.stderr)
	}
	if entries, _ := os.ReadDir(small); len(entries) != 0 {
		t.Errorf("left on the full file system: %v", entries)
	}
}

// fillBig adds about mib MiB to the database at db: rows of a table of its
// own (for backup), or nodes with long summaries (for export).
func fillBig(t *testing.T, db string, mib int, nodes bool) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	stmt := fmt.Sprintf(`CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT randomblob(1 << 20) AS b FROM c`, mib)
	if nodes {
		stmt = fmt.Sprintf(`INSERT INTO nodes (id, type, summary) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT printf('big%%06d', x), 't', hex(randomblob(1 << 15)) FROM c`, mib*16)
	}
	if _, err := raw.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// killWhenTemp starts the CLI with args in a child process, kills it with
// SIGKILL as soon as a temporary file for dest appears, and waits for it.
// It reports false when the child finished first.
func killWhenTemp(t *testing.T, dest string, args ...string) bool {
	t.Helper()
	cmd := cliProcess(t, args...)
	prefix := "." + filepath.Base(dest) + ".tmp-"
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(filepath.Dir(dest))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				return !cmd.ProcessState.Success()
			}
		}
		if cmd.ProcessState != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no temporary file for %s appeared within 60s", dest)
	return false
}

// TestOutput_KilledRunLeavesNoTemps: a backup or export killed with SIGKILL
// leaves its hidden temporary file; the next run to the same destination
// removes it (O5).
func TestOutput_KilledRunLeavesNoTemps(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2×64 MiB databases and kills child processes")
	}
	for _, cmd := range []string{"backup", "export"} {
		t.Run(cmd, func(t *testing.T) {
			db := newDB(t)
			fillBig(t, db, 64, cmd == "export")
			dest := filepath.Join(t.TempDir(), "out")
			if !killWhenTemp(t, dest, "--db", db, cmd, dest, "--progress", "never") {
				t.Skipf("%s finished before it could be killed", cmd)
			}
			entries, _ := os.ReadDir(filepath.Dir(dest))
			if len(entries) == 0 {
				t.Fatalf("the killed %s left nothing: nothing to prove", cmd)
			}
			mustCLI(t, 0, "", "--db", db, cmd, dest, "--progress", "never")
			entries, _ = os.ReadDir(filepath.Dir(dest))
			for _, e := range entries {
				if e.Name() != "out" {
					t.Errorf("left behind after the next %s: %s", cmd, e.Name())
				}
			}
		})
	}
}
