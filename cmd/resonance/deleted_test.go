package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// importer is `resonance import -` running in a child process, committing
// each line it is sent.
type importer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *strings.Builder
	sent  int
}

func startImporter(t *testing.T, db string) *importer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCLI$", "--", "--db", db, "import", "-", "--batch", "1", "--progress", "never")
	cmd.Env = append(os.Environ(), "RESONANCE_CLI_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	im := &importer{cmd: cmd, stdin: stdin, out: &out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return im
}

// send writes n node lines and waits until the database holds them all.
func (im *importer) send(t *testing.T, db string, n int) {
	t.Helper()
	for range n {
		im.sent++
		fmt.Fprintf(im.stdin, `{"kind":"node","id":"n%d","type":"t"}`+"\n", im.sent)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(t, db, `SELECT count(*) FROM nodes`) < int64(im.sent) {
		if time.Now().After(deadline) {
			t.Fatalf("the importer did not commit %d lines in 30s:\n%s", im.sent, im.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// end closes the importer's input and waits for it to exit.
func (im *importer) end(t *testing.T) (string, int) {
	t.Helper()
	im.stdin.Close()
	err := im.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return im.out.String(), code
}

// TestImport_DirectoryRemovedWarns: when the database's directory is
// removed while `import` runs, what it imports next goes to a deleted
// file; the import must not end as if all were well: the CLI prints the
// store's warning that the path no longer leads to the database.
func TestImport_DirectoryRemovedWarns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "graph.db")
	mustCLI(t, 0, "", "--db", db, "init")
	im := startImporter(t, db)
	im.send(t, db, 3)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(im.stdin, `{"kind":"node","id":"lost","type":"t"}`+"\n")
	out, _ := im.end(t)
	if !strings.Contains(out, db) || !strings.Contains(out, "no longer leads to the database") {
		t.Errorf("import whose directory was removed printed no warning naming %s:\n%s", db, out)
	}
}

// TestDoctor_SeesDeletedShm: -shm deleted while a process has the database
// open. Processes that open it afterwards create a new -shm and no longer
// see the old one's locks. doctor finds the process that still has the
// deleted -shm open and names it.
func TestDoctor_SeesDeletedShm(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to see which files processes have open")
	}
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init")
	im := startImporter(t, db)
	im.send(t, db, 1)
	if err := os.Remove(db + "-shm"); err != nil {
		t.Fatal(err)
	}
	r := cli(t, "", "--db", db, "doctor")
	pid := strconv.Itoa(im.cmd.Process.Pid)
	if r.code != 1 || !hasLine(r.stdout, "FAIL", "process "+pid) || !strings.Contains(r.stdout, "graph.db-shm") || !strings.Contains(r.stdout, "deleted") {
		t.Errorf("doctor beside process %s holding a deleted -shm: exit %d\n%s\n%s", pid, r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(db + "-shm"); err == nil {
		t.Errorf("doctor opened the database beside a deleted -shm, creating a second one")
	}
	im.end(t)
}
