package output_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/resonance-graph/resonancedb/internal/output"
	"github.com/resonance-graph/resonancedb/internal/output/outputtest"
	"github.com/resonance-graph/resonancedb/resonance"
)

// openDatabase returns the path of a database with data that a store
// holds open, so that its -wal and -shm files exist.
func openDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "graph.db")
	s, err := resonance.Open(ctx, db, resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "n", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestCreate_RefusesTheDatabase: an output (backup, export) that is the
// database or its -wal, -shm or -journal file, by path, through a symbolic
// link or as a hard link, or that is a device, a named pipe or a
// directory, is refused with ErrInvalid even when replacing is allowed,
// before anything is written (O5). TestBackup_RefusesTheDatabase tries
// the same destinations with Store.Backup.
func TestCreate_RefusesTheDatabase(t *testing.T) {
	db := openDatabase(t)
	dests, other := outputtest.Refused(t, db)
	for _, dest := range dests {
		t.Run(strings.TrimPrefix(dest, other), func(t *testing.T) {
			out, err := output.Create(db, dest, true)
			if err == nil {
				out.Abort()
				t.Fatalf("Create(%q, replace) succeeded, want ErrInvalid", dest)
			}
			if !errors.Is(err, output.ErrInvalid) || !errors.Is(err, resonance.ErrInvalid) {
				t.Errorf("Create(%q) = %v, want ErrInvalid", dest, err)
			}
		})
	}
	outputtest.OnlyLeft(t, filepath.Dir(db), filepath.Base(db)+"*")
	outputtest.OnlyLeft(t, other, "link.db", "hard.db", "dirlink", "wal-link", "journal-link", "fifo", "sub")
}

// TestCreate_Replace: an existing file, and a symbolic link whose
// target is missing, are replaced only when replacing is allowed; a missing
// directory is named as such, not by the temporary file's name.
func TestCreate_Replace(t *testing.T) {
	db := openDatabase(t)
	dir := t.TempDir()
	write := func(dest string, replace bool, data string) error {
		out, err := output.Create(db, dest, replace)
		if err != nil {
			return err
		}
		if _, err := out.Write([]byte(data)); err != nil {
			out.Abort()
			return err
		}
		return out.Commit()
	}

	file := filepath.Join(dir, "out.jsonl")
	if err := write(file, false, "one"); err != nil {
		t.Fatal(err)
	}
	if err := write(file, false, "two"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a second output without replace = %v, want fs.ErrExist", err)
	}
	if err := write(file, true, "three"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "three" {
		t.Errorf("file holds %q, want the replacement", b)
	}

	link := filepath.Join(dir, "dangling.jsonl")
	if err := os.Symlink(filepath.Join(dir, "missing", "target"), link); err != nil {
		t.Fatal(err)
	}
	err := write(link, false, "x")
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("output onto a dangling symbolic link = %v, want fs.ErrExist naming the link", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the dangling link was replaced without replace: %v %v", fi, err)
	}
	if err := write(link, true, "x"); err != nil {
		t.Fatalf("replacing a dangling link: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after replacing: %v %v, want a regular file", fi, err)
	}

	missing := filepath.Join(dir, "no", "such")
	err = write(filepath.Join(missing, "out.jsonl"), false, "x")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("output into a missing directory = %v, want fs.ErrNotExist naming %s", err, missing)
	}

	out, err := output.Create(db, filepath.Join(dir, "aborted.jsonl"), false)
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("partial"))
	out.Abort()
	outputtest.OnlyLeft(t, dir, "out.jsonl", "dangling.jsonl")
}

// TestCreate_Mode: under the usual umask 022 a new output is readable
// (0644), not CreateTemp's 0600; one that replaces a file keeps that
// file's mode.
func TestCreate_Mode(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	mode := func(name string, replace bool) os.FileMode {
		t.Helper()
		out, err := output.Create(db, filepath.Join(dir, name), replace)
		if err != nil {
			t.Fatal(err)
		}
		if err := out.Commit(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode("new.jsonl", false); m != 0o644 {
		t.Errorf("a new output has mode %v, want 0644", m)
	}
	if err := os.WriteFile(filepath.Join(dir, "kept.jsonl"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "kept.jsonl"), 0o640); err != nil {
		t.Fatal(err)
	}
	if m := mode("kept.jsonl", true); m != 0o640 {
		t.Errorf("an output replacing a 0640 file has mode %v, want 0640", m)
	}
}

// TestCreate_ModeFollowsUmaskAndDatabase: a new output takes the
// process's umask, or the database's own mode where that is stricter; it is
// never more readable than either. (Root obeys the umask, so this holds in
// CI.) Not parallel: the umask belongs to the whole process.
func TestCreate_ModeFollowsUmaskAndDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "graph.db")
	newOutput := func(name string) os.FileMode {
		t.Helper()
		out, err := output.Create(db, filepath.Join(dir, name), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
		if err := out.Commit(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	old := syscall.Umask(0o077)
	m := newOutput("umask077.jsonl")
	syscall.Umask(0o027)
	m027 := newOutput("umask027.jsonl")
	// The database exists and is 0600: the output is no more readable.
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		syscall.Umask(old)
		t.Fatal(err)
	}
	syscall.Umask(0o022)
	mdb := newOutput("db0600.jsonl")
	syscall.Umask(old)
	if m != 0o600 {
		t.Errorf("under umask 077 a new output has mode %v, want 0600", m)
	}
	if m027 != 0o640 {
		t.Errorf("under umask 027 a new output has mode %v, want 0640", m027)
	}
	if mdb != 0o600 {
		t.Errorf("beside a 0600 database under umask 022 a new output has mode %v, want 0600", mdb)
	}
}
