// Package outputtest holds what the tests of outputs share: the
// destinations an output must refuse because they are, or lead to, the
// database (O5), and the check that an output left nothing behind.
package outputtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Refused returns the destinations an output of the database at db must
// refuse: db and its -wal, -shm and -journal files by path, through
// symbolic links and as a hard link, a device, a named pipe and
// directories. The links, the pipe and the directory are made in a new
// temporary directory, which is returned too (for subtest names).
func Refused(t testing.TB, db string) (dests []string, other string) {
	t.Helper()
	dir := filepath.Dir(db)
	other = t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(db, filepath.Join(other, "link.db")))
	must(os.Link(db, filepath.Join(other, "hard.db")))
	must(os.Symlink(dir, filepath.Join(other, "dirlink")))
	must(os.Symlink(db+"-wal", filepath.Join(other, "wal-link")))
	must(os.Symlink(db+"-journal", filepath.Join(other, "journal-link"))) // dangling: no -journal in WAL mode
	must(syscall.Mkfifo(filepath.Join(other, "fifo"), 0o644))
	must(os.Mkdir(filepath.Join(other, "sub"), 0o755))
	return []string{
		db, db + "-wal", db + "-shm", db + "-journal",
		filepath.Join(dir, ".", filepath.Base(db)),
		filepath.Join(other, "link.db"),
		filepath.Join(other, "hard.db"),
		filepath.Join(other, "dirlink", filepath.Base(db)),
		filepath.Join(other, "dirlink", filepath.Base(db)+"-shm"),
		filepath.Join(other, "wal-link"),
		filepath.Join(other, "journal-link"),
		"/dev/null",
		filepath.Join(other, "fifo"),
		filepath.Join(other, "sub"),
		filepath.Join(other, "sub") + "/",
	}, other
}

// OnlyLeft fails the test when dir holds anything but files whose names
// match one of keep (patterns of filepath.Match): the temporary files of
// an output are gone once it is done or has failed.
func OnlyLeft(t testing.TB, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		ok := false
		for _, k := range keep {
			if m, _ := filepath.Match(k, e.Name()); m {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s holds %s, left behind", dir, e.Name())
		}
	}
}
