package resonance_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/internal/output/outputtest"
	"github.com/resonance-graph/resonancedb/resonance"
)

// TestBackup_RefusesTheDatabase: a backup to the database or its -wal,
// -shm or -journal file, by path, through a symbolic link or as a hard
// link, or to a device, a named pipe or a directory, is refused with
// ErrInvalid before anything is written, and the database is unchanged
// (O5).
func TestBackup_RefusesTheDatabase(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "o", 10)
	db := s.Path()
	dests, other := outputtest.Refused(t, db)
	for _, dest := range dests {
		t.Run(strings.TrimPrefix(dest, other), func(t *testing.T) {
			err := s.Backup(ctx, dest, nil)
			if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), dest) {
				t.Errorf("Backup(%q) = %v, want ErrInvalid naming it", dest, err)
			}
		})
	}
	if n := countRows(t, s.ReadDB(), "nodes"); n != 10 {
		t.Errorf("the database holds %d nodes after the refusals, want 10", n)
	}
	if problems, err := s.IntegrityCheck(ctx); err != nil || len(problems) > 0 {
		t.Errorf("integrity after the refusals: %v %v", problems, err)
	}
	outputtest.OnlyLeft(t, filepath.Dir(db), filepath.Base(db)+"*")
	outputtest.OnlyLeft(t, other, "link.db", "hard.db", "dirlink", "wal-link", "journal-link", "fifo", "sub")
}

// deadPid returns the process id of a child process that has exited and
// been waited for.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestBackup_RemovesStaleTemps: temporary files that an interrupted
// output to the same destination left behind (their writer's process is
// gone, or they have not been written for a day) are removed by the next
// backup to it; a live writer's file and other destinations' files stay
// (O5).
func TestBackup_RemovesStaleTemps(t *testing.T) {
	s := openStore(t, resonance.Options{})
	dir := t.TempDir()
	dead, live := deadPid(t), os.Getpid()
	touch := func(name string, age time.Duration) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			old := time.Now().Add(-age)
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	stale := []string{
		touch(fmt.Sprintf(".out.db.tmp-%d-123", dead), 0),
		touch(fmt.Sprintf(".out.db.tmp-%d-123-wal", dead), 0),
		touch(fmt.Sprintf(".out.db.tmp-%d-123-shm", dead), 0),
		touch(fmt.Sprintf(".out.db.tmp-%d-456", live), 25*time.Hour),
	}
	kept := []string{
		touch(fmt.Sprintf(".out.db.tmp-%d-789", live), 0),    // a writer still at work
		touch(fmt.Sprintf(".other.db.tmp-%d-1", dead), 0),    // another destination
		touch(fmt.Sprintf(".out.db.tmp-%d-1.keep", dead), 0), // not a temporary name
		touch(fmt.Sprintf("out.db.tmp-%d-1", dead), 0),       // not hidden: not ours
		touch(fmt.Sprintf(".xout.db.tmp-%d-1", dead), 0),     // a longer name
	}
	if err := s.Backup(context.Background(), filepath.Join(dir, "out.db"), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale %s was not removed (%v)", filepath.Base(p), err)
		}
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
