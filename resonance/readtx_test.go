package resonance_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReadTx_WriteInReadDoesNotCompile type-checks two programs kept out of
// the build in testdata: a graph write inside Store.Read does not compile,
// because ReadTx has no writes, and the same write inside Store.Tx does (T5).
func TestReadTx_WriteInReadDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	vet := func(dir string) (string, error) {
		out, err := exec.Command(goBin, "vet", "./testdata/"+dir).CombinedOutput()
		return string(out), err
	}
	out, err := vet("writeinread")
	const want = "r.UpsertNode undefined (type *resonance.ReadTx has no field or method UpsertNode)"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("go vet of a graph write inside Read: err %v, output:\n%s\nwant the compile error %q", err, out, want)
	}
	if out, err := vet("writeintx"); err != nil {
		t.Errorf("go vet of the same write inside Tx: %v\n%s", err, out)
	}
}
