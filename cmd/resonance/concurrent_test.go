package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestHelperCLI is not a test: run as a child process with
// RESONANCE_CLI_CHILD=1, it is the resonance command with the arguments
// after "--".
func TestHelperCLI(t *testing.T) {
	if os.Getenv("RESONANCE_CLI_CHILD") != "1" {
		t.Skip("runs only as the CLI child process of another test")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}

// cliProcess starts the CLI in a child process.
func cliProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperCLI$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "RESONANCE_CLI_CHILD=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// TestBackup_DuringImport: `resonance backup` while another process runs
// `resonance import` yields a copy that passes integrity_check, opens with
// the connector, and holds a committed prefix of the import (O2).
func TestBackup_DuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 100,000 lines in a child process")
	}
	db := newDB(t)
	in := lines(t, 100000, 0)
	imp := cliProcess(t, "--db", db, "import", in, "--batch", "500", "--progress", "never")

	// Wait until the import has committed something, then back up.
	deadline := time.Now().Add(30 * time.Second)
	for count(t, db, `SELECT count(*) FROM nodes`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the import committed nothing in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	mustCLI(t, 0, "", "--db", db, "backup", dest, "--verify", "--progress", "never")
	running := imp.ProcessState == nil
	if err := imp.Wait(); err != nil {
		t.Fatalf("import beside the backup failed: %v\n%s", err, imp.Stdout)
	}
	if !running {
		t.Fatal("the import ended before the backup did: nothing was proved; import more lines")
	}

	copyStore, err := resonance.Open(t.Context(), dest, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open with the connector: %v", err)
	}
	defer copyStore.Close()
	problems, err := copyStore.IntegrityCheck(t.Context())
	if err != nil || len(problems) != 0 {
		t.Fatalf("integrity_check of the backup: %v %v", problems, err)
	}
	copied := count(t, dest, `SELECT count(*) FROM nodes`)
	final := count(t, db, `SELECT count(*) FROM nodes`)
	if copied == 0 || copied >= final {
		t.Errorf("backup holds %d nodes, the finished import %d: want a committed part taken while it ran", copied, final)
	}
	// Whole batches only: every node in the copy has its history row.
	if h := count(t, dest, `SELECT count(*) FROM history WHERE entity_type = 'node'`); h != copied {
		t.Errorf("backup holds %d nodes but %d node history rows: a batch was torn", copied, h)
	}
}
