package resonance_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestStore_VacuumNeedsTheDatabaseToItself: VACUUM rewrites the whole file
// under the write lock, for longer than another process's writer waits
// (its busy timeout); so Vacuum refuses with ErrBusy, naming the process,
// while another process has the database open, and runs once it is gone.
func TestStore_VacuumNeedsTheDatabaseToItself(t *testing.T) {
	if path := os.Getenv("RESONANCE_VACUUM_CHILD_DB"); path != "" {
		s, err := resonance.Open(t.Context(), path, resonance.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stats(t.Context()); err != nil {
			t.Fatal(err)
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		s.Close()
		return
	}
	s := openStore(t, resonance.Options{})
	child := exec.Command(os.Args[0], "-test.run=^TestStore_VacuumNeedsTheDatabaseToItself$")
	child.Env = append(os.Environ(), "RESONANCE_VACUUM_CHILD_DB="+s.Path())
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer in.Close()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || !strings.Contains(line, "ready") {
		t.Fatalf("the child did not open the database: %q, %v", line, err)
	}
	err = s.Vacuum(t.Context())
	if !errors.Is(err, resonance.ErrBusy) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", child.Process.Pid)) {
		t.Errorf("Vacuum while another process has the database open = %v; want ErrBusy naming process %d", err, child.Process.Pid)
	}
	in.Close()
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := s.Vacuum(t.Context()); err != nil {
		t.Errorf("Vacuum once the other process closed the database: %v", err)
	}
}
