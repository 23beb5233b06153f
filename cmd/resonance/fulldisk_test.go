package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/internal/originaldb"
)

// fillTo is a setup script for cliInMountNamespace: an 8 MiB tmpfs on $1
// holding a copy of $2, filled up but for free KiB.
func fillTo(free int) string {
	return fmt.Sprintf(`mount -t tmpfs -o size=8m tmpfs "$1" && cp "$2" "$1"/ && { dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null; true; } && truncate -s -%dK "$1/fill"`, free)
}

// TestFullDisk_Adoption converts a database made by the original on a file
// system with less and less room. At every size the command either
// converts and exits 0, or changes nothing, says so and exits 1, with no
// second error about a rollback SQLite had already done: an optional step
// after the conversion (PRAGMA optimize) never fails the command.
func TestFullDisk_Adoption(t *testing.T) {
	src, _ := newOriginalDB(t, originaldb.Options{ExtraNodes: 60})
	size := fileSize(src)
	dir := t.TempDir()
	db := filepath.Join(dir, filepath.Base(src))
	var converted, refused int
	// From room for the backup alone to room for the backup and the
	// conversion.
	for i := range int64(7) {
		free := size/1024 + 64 + i*size/1024/3
		setup := fillTo(int(free)) + ` && { "$0" -test.run=^TestHelperCLI$ -- --db "$1/graph.db" migrate up; echo "exit=$?"; }`
		out, _ := cliInMountNamespace(t, setup, dir, src, "--db", db, "migrate", "status")
		code := "exit=0"
		if !strings.Contains(out, code) {
			code = "exit=1"
		}
		original := strings.Contains(out, "not converted") || strings.Contains(out, "made by the original (")
		switch {
		case strings.Contains(out, "rollback:"):
			t.Errorf("%d KiB free: migrate up reports a rollback error after the real one:\n%s", free, out)
		case code == "exit=0" && original:
			t.Errorf("%d KiB free: migrate up exited 0 and the database is still the original's:\n%s", free, out)
		case code == "exit=1" && !original:
			t.Errorf("%d KiB free: migrate up exited 1 after converting the database:\n%s", free, out)
		case code == "exit=1" && !strings.Contains(out, "nothing was"):
			t.Errorf("%d KiB free: migrate up failed without saying that nothing was changed:\n%s", free, out)
		case code == "exit=0":
			converted++
		default:
			refused++
		}
	}
	t.Logf("database %d KiB: converted at %d sizes, refused at %d", size/1024, converted, refused)
}

// TestFullDisk_HealthOpens: on a nearly full file system health opens the
// database (PRAGMA optimize at open and close is skipped with a warning)
// and reports what it finds; at no size does it fail on PRAGMA optimize.
func TestFullDisk_HealthOpens(t *testing.T) {
	src := newDB(t)
	mustCLI(t, 0, "", "--db", src, "import", "example/graph.jsonl")
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	for free := 24; free <= 48; free += 4 {
		out, _ := cliInMountNamespace(t, fillTo(free), dir, src, "--db", db, "health")
		if strings.Contains(out, "PRAGMA optimize:") {
			t.Errorf("%d KiB free: health failed on PRAGMA optimize:\n%s", free, out)
		}
	}
}
