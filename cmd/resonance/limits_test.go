package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fileLimitAdvice is what every command says when the process ran out of
// file descriptors.
const fileLimitAdvice = "too many open files: raise the limit (ulimit -n)"

// cliWithFileLimit runs the CLI in a child process whose RLIMIT_NOFILE
// (soft and hard) is n, and returns its combined output and exit code.
func cliWithFileLimit(t *testing.T, n int, args ...string) (string, int) {
	t.Helper()
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n)
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, os.Args[0], "-test.run=^TestHelperCLI$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "RESONANCE_CLI_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("running the CLI with ulimit -n %d: %v\n%s", n, err, out)
	return "", -1
}

// TestFileLimit_ClearError runs the commands that open the database with
// `ulimit -n` between 6 and 12: each one either succeeds or exits 1 with
// the advice to raise the limit, never with a Go runtime crash (which
// happened when SQLite had taken every descriptor before Go's poller was
// set up) and never blaming permissions.
func TestFileLimit_ClearError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about sixty child processes")
	}
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh to lower the file limit of a child process")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	in := filepath.Join(dir, "in.jsonl")
	mustCLI(t, 0, "", "--db", db, "export", in)

	failed := 0
	for n := 6; n <= 12; n++ {
		for _, c := range [][]string{
			{"health"}, {"checkpoint"}, {"vacuum"}, {"stats"}, {"doctor"},
			{"backup", filepath.Join(dir, fmt.Sprintf("b%d.db", n))},
			{"export", filepath.Join(dir, fmt.Sprintf("e%d.jsonl", n))},
			{"import", in},
		} {
			out, code := cliWithFileLimit(t, n, append([]string{"--db", db}, c...)...)
			name := fmt.Sprintf("ulimit -n %d; resonance %s", n, strings.Join(c, " "))
			switch {
			case strings.Contains(out, "fatal error") || strings.Contains(out, "goroutine "):
				t.Errorf("%s crashed:\n%s", name, out[:min(len(out), 600)])
			case code == 1:
				failed++
				if !strings.Contains(out, fileLimitAdvice) {
					t.Errorf("%s: exit 1 without %q:\n%s", name, fileLimitAdvice, out)
				}
				if c[0] != "doctor" && strings.Count(out, "ulimit -n") != 1 {
					t.Errorf("%s: the fix is not given exactly once:\n%s", name, out)
				}
				if strings.Contains(out, "readable and writable") || strings.Contains(out, "W1 permission") || strings.Contains(out, "fix: run `resonance integrity`") {
					t.Errorf("%s: a file limit reported as a permission problem:\n%s", name, out)
				}
			case code != 0:
				t.Errorf("%s: exit %d, want 0 or 1:\n%s", name, code, out)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no command failed at any limit: nothing was proved; lower the limits")
	}
}
