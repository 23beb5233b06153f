package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTruncatedDatabase: a database cut short (to half its size, or to a
// size that is not a whole number of pages) is named as truncated, by the
// open error and by doctor, with fixes that work on a file SQLite cannot
// open: restore a backup, or salvage with sqlite3's .recover. Neither
// sends the user to `resonance integrity`, which cannot open it either.
func TestTruncatedDatabase(t *testing.T) {
	for _, cut := range []struct {
		name string
		size func(int64) int64
	}{
		{"half", func(n int64) int64 { return n / 2 }},
		{"partial page", func(n int64) int64 { return n/2 + 100 }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "graph.db")
			mustCLI(t, 0, "", "--db", db, "init", "--example")
			fi, err := os.Stat(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(db, cut.size(fi.Size())); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"health"}, {"integrity"}, {"doctor"}} {
				r := cli(t, "", append([]string{"--db", db}, args...)...)
				out := r.stdout + r.stderr
				if r.code != 1 || !strings.Contains(out, "truncated") || !strings.Contains(out, "backups/") || !strings.Contains(out, ".recover") {
					t.Errorf("%s on a truncated database: exit %d, want 1 naming the truncation, backups/ and .recover:\n%s", args[0], r.code, out)
				}
				if strings.Contains(out, "resonance integrity --db") {
					t.Errorf("%s on a truncated database sends the user to `resonance integrity`:\n%s", args[0], out)
				}
			}
		})
	}
}

// TestDoctor_FullDisk: doctor looks at the free space of the file system
// holding the database: a full one fails (health's write probe would), a
// nearly full one warns.
func TestDoctor_FullDisk(t *testing.T) {
	src := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", src, "init", "--example")
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	// A 4 MiB file system holding the database, filled up.
	full := `mount -t tmpfs -o size=4m tmpfs "$1" && cp "$2" "$1"/ && { dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null; true; }`
	out, code := cliInMountNamespace(t, full, dir, src, "--db", db, "doctor")
	if code != 1 || !hasLine(out, "FAIL", "free") || !strings.Contains(out, "free space") {
		t.Errorf("doctor on a full file system: exit %d, want 1 with a failure about free space:\n%s", code, out)
	}
	if strings.Contains(out, "no problems found") {
		t.Errorf("doctor on a full file system found no problems:\n%s", out)
	}
}

// TestSpaceCheck: the thresholds of doctor's free-space check.
func TestSpaceCheck(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		free, used int64
		want       string
	}{
		{0, mib, "fail"},
		{mib - 1, mib, "fail"},
		{32 * mib, mib, "warn"},        // under the 64 MiB floor
		{100 * mib, 200 * mib, "warn"}, // less than the database and its -wal take
		{100 * mib, 10 * mib, "ok"},
	} {
		status, detail, fix := spaceCheck("/d", c.free, c.used)
		if status != c.want || detail == "" || (status != "ok" && !strings.Contains(fix, "free space")) {
			t.Errorf("spaceCheck(free %d, used %d) = %s, %q, %q; want %s with a fix", c.free, c.used, status, detail, fix, c.want)
		}
	}
}
