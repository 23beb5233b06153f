package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliInMountNamespace runs the CLI in a child process in a private mount
// namespace, after the shell commands of setup ran there with dir as $1
// and src as $2. It skips the test when the mounts cannot be set up (not
// root, no unshare, or a container that forbids mounts).
func cliInMountNamespace(t *testing.T, setup, dir, src string, args ...string) (string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a file system in a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to mount a file system in a private mount namespace")
	}
	const cannotMount = 77
	script := "{ " + setup + `; } || exit 77; shift 2; exec "$0" "$@"`
	cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "/bin/sh", "-c", script,
		os.Args[0], dir, src, "-test.run=^TestHelperCLI$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "RESONANCE_CLI_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ee.ExitCode() == cannotMount:
		t.Skipf("cannot mount on %s in a private mount namespace here: %s", dir, out)
	case errors.As(err, &ee) && strings.Contains(string(out), "unshare failed"):
		t.Skipf("cannot make a private mount namespace here: %s", out)
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("unshare: %v\n%s", err, out)
	return "", -1
}

// cliOnReadOnlyMount runs the CLI with dir bind-mounted read-only over
// itself.
func cliOnReadOnlyMount(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	return cliInMountNamespace(t, `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1"`, dir, "", args...)
}

// TestReadOnlyFileSystem: on a file system mounted read-only no chmod can
// help. The open error and doctor say that the file system is read-only
// and give fixes that work there: copy the database elsewhere, or open it
// immutable for reading.
func TestReadOnlyFileSystem(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")

	out, code := cliOnReadOnlyMount(t, dir, "--db", db, "health")
	if code != 1 || !strings.Contains(out, "mounted read-only") || !strings.Contains(out, "immutable=1") || !strings.Contains(out, "copy the database") {
		t.Errorf("health on a read-only mount: exit %d, want 1 naming the read-only file system and the fixes:\n%s", code, out)
	}
	if strings.Contains(out, "chmod u+") {
		t.Errorf("health on a read-only mount suggests chmod:\n%s", out)
	}

	out, code = cliOnReadOnlyMount(t, dir, "--db", db, "doctor")
	if code != 1 || !hasLine(out, "FAIL", "mounted read-only") || !strings.Contains(out, "immutable=1") {
		t.Errorf("doctor on a read-only mount: exit %d, want a failure naming the read-only file system:\n%s", code, out)
	}
	if strings.Contains(out, "chmod u+") || strings.Contains(out, "cannot write") {
		t.Errorf("doctor on a read-only mount blames permissions:\n%s", out)
	}
}
