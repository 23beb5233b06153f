package fsfix

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/resonance-graph/resonancedb/internal/inuse"
)

// writeDB writes a file of size bytes whose SQLite header declares pages
// pages of pageSize bytes, with a valid in-header size when valid is set.
func writeDB(t *testing.T, size int64, pageSize uint16, pages uint32, valid bool) string {
	t.Helper()
	b := make([]byte, max(size, 100))
	copy(b, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(b[16:], pageSize)
	binary.BigEndian.PutUint32(b[24:], 7) // change counter
	binary.BigEndian.PutUint32(b[28:], pages)
	if valid {
		binary.BigEndian.PutUint32(b[92:], 7)
	}
	p := filepath.Join(t.TempDir(), "graph.db")
	if err := os.WriteFile(p, b[:size], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSizeProblem(t *testing.T) {
	for _, c := range []struct {
		name     string
		size     int64
		pageSize uint16
		pages    uint32
		valid    bool
		want     string
	}{
		{"whole", 4 * 4096, 4096, 4, true, ""},
		{"longer than the header says", 5 * 4096, 4096, 4, true, ""},
		{"half", 2 * 4096, 4096, 4, true, "truncated"},
		{"partial page", 2*4096 + 100, 4096, 4, true, "not a whole number of 4096-byte pages"},
		{"stale header size", 2 * 4096, 4096, 4, false, ""},
		{"64 KiB pages", 65536, 1, 2, true, "truncated"},
		{"no valid page size", 4096, 1000, 4, true, ""},
		{"too short for a header", 50, 4096, 4, true, ""},
	} {
		got := SizeProblem(writeDB(t, c.size, c.pageSize, c.pages, c.valid))
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: SizeProblem = %q, want %q", c.name, got, c.want)
		}
	}
	if got := SizeProblem(filepath.Join(t.TempDir(), "missing.db")); got != "" {
		t.Errorf("a missing file: SizeProblem = %q", got)
	}
}

func TestFreeSpace(t *testing.T) {
	n, err := FreeSpace(t.TempDir())
	if err != nil || n <= 0 {
		t.Errorf("FreeSpace(a temporary directory) = %d, %v", n, err)
	}
	if _, err := FreeSpace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FreeSpace of a missing path: no error")
	}
	if fix := NoSpaceFix("/d"); !strings.Contains(fix, "free space on the file system holding /d") {
		t.Errorf("NoSpaceFix = %q", fix)
	}
}

// TestSizeProblem_KeepsTheLocksOfThisProcess: SizeProblem explains a
// failed open while the caller's other connections have the database
// open; reading the file must not drop the locks they hold on it (closing
// any descriptor of a file drops every POSIX lock of the process on it).
func TestSizeProblem_KeepsTheLocksOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skip("no /proc/locks on this system")
	}
	path := writeDB(t, 3*4096, 4096, 3, true)
	conn, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 1 << 30, Len: 1} // SQLite's PENDING byte
	if err := syscall.FcntlFlock(conn.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if p := SizeProblem(path); p != "" {
		t.Fatalf("SizeProblem of a whole file = %q", p)
	}
	if held, err := inuse.HeldHere(conn); err != nil || !held {
		t.Errorf("after SizeProblem this process no longer holds its lock on the database (%v)", err)
	}
	lk.Type = syscall.F_UNLCK
	if err := syscall.FcntlFlock(conn.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	inuse.Close() // closes what SizeProblem left open
}
