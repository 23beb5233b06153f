package resonance_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/resonance-graph/resonancedb/internal/output/outputtest"
	"github.com/resonance-graph/resonancedb/resonance"
)

// TestOpen_RefusesPathThatIsNotAFile: a database path that exists and is
// not a regular file (a device, a named pipe, a socket, a directory) is
// refused by Open and Connect before anything touches the disk, naming the
// path and what it is (O5).
func TestOpen_RefusesPathThatIsNotAFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.db")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sub := filepath.Join(dir, "sub.db")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	_, journalErr := os.Lstat("/dev/null-journal")
	for _, tc := range []struct{ path, kind string }{
		{"/dev/null", "character device"},
		{fifo, "named pipe"},
		{sock, "socket"},
		{sub, "directory"},
	} {
		for _, o := range []resonance.Options{{Create: true}, {}, {ReadOnly: true}} {
			t.Run(fmt.Sprintf("%s %+v", filepath.Base(tc.path), o), func(t *testing.T) {
				s, err := resonance.Open(ctx, tc.path, o)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%q) succeeded", tc.path)
				}
				if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.kind) {
					t.Errorf("Open(%q) = %v, want ErrInvalid naming the path and %q", tc.path, err, tc.kind)
				}
				db, err := resonance.Connect(ctx, tc.path, o)
				if err == nil {
					db.Close()
					t.Fatalf("Connect(%q) succeeded", tc.path)
				}
				if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), tc.kind) {
					t.Errorf("Connect(%q) = %v, want ErrInvalid naming %q", tc.path, err, tc.kind)
				}
			})
		}
	}
	outputtest.OnlyLeft(t, dir, "fifo.db", "sock.db", "sub.db")
	if _, err := os.Lstat("/dev/null-journal"); errors.Is(journalErr, fs.ErrNotExist) && err == nil {
		t.Errorf("/dev/null-journal was created")
	}
}

// TestOpen_LiteralFileNames: only ":memory:" names and file: URIs asking for
// mode=memory are refused as in-memory databases; every other name, even
// one that looks like a DSN, is a file name taken literally.
func TestOpen_LiteralFileNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"x.db?mode=memory", "y.db?cache=shared&mode=memory", "z mode=memory.db"} {
		path := filepath.Join(dir, name)
		s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
		if err != nil {
			t.Errorf("Open(%q): %v, want the file name taken literally", path, err)
			continue
		}
		s.Close()
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%q was not created as a database file: %v", path, err)
		}
	}
	for _, name := range []string{":memory:", ":memory:?cache=shared", "file::memory:", "file::memory:?cache=shared", "file:x.db?mode=memory", "file:x.db?cache=shared&mode=memory"} {
		if _, err := resonance.Open(ctx, name, resonance.Options{Create: true}); err == nil || !strings.Contains(err.Error(), "in-memory") {
			t.Errorf("Open(%q) = %v, want the in-memory refusal", name, err)
		}
	}
}

// TestOpen_ReadOnlyEmptyFileWritesNothing: a read-only open of an empty
// (0-byte) file is refused and leaves the file empty, with no -wal or -shm
// beside it: a read-only store writes nothing.
func TestOpen_ReadOnlyEmptyFileWritesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := resonance.Open(context.Background(), path, resonance.Options{ReadOnly: true})
	if err == nil {
		s.Close()
		t.Fatal("read-only Open of an empty file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("read-only Open of an empty file = %v, want an error naming it empty", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("the empty file now holds %d bytes", fi.Size())
	}
	outputtest.OnlyLeft(t, dir, "empty.db")
}

// TestReaders_AttachCreatesNothing: ATTACH on a query_only connection (a
// store's readers, a read-only pool) is refused without creating the
// attached file.
func TestReaders_AttachCreatesNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	dir := t.TempDir()
	ro, err := resonance.Connect(ctx, s.Path(), resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for i, exec := range []func(string, ...any) error{
		func(q string, args ...any) error { _, err := s.ReadDB().ExecContext(ctx, q, args...); return err },
		func(q string, args ...any) error { _, err := ro.ExecContext(ctx, q, args...); return err },
	} {
		target := filepath.Join(dir, fmt.Sprintf("attached%d.db", i))
		if err := exec(`ATTACH DATABASE ? AS other`, target); err == nil {
			t.Errorf("ATTACH on a query_only connection succeeded")
		}
		if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ATTACH on a query_only connection created %s", target)
		}
	}
	// The writer may still attach.
	target := filepath.Join(dir, "writer.db")
	if _, err := s.DB().ExecContext(ctx, `ATTACH DATABASE ? AS other`, target); err != nil {
		t.Errorf("ATTACH on the writer: %v", err)
	} else if _, err := s.DB().ExecContext(ctx, `DETACH DATABASE other`); err != nil {
		t.Error(err)
	}
}

// TestOpen_PrunesOnlyItsOwnBackups: pruning the pre-migration backups of
// g.db keeps the newest BackupKeep of g.db's own and never touches those
// of g-1.db, though their names share the prefix "g-" (M6).
func TestOpen_PrunesOnlyItsOwnBackups(t *testing.T) {
	dir := t.TempDir()
	ms := fstest.MapFS{"001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")}}
	for _, name := range []string{"g.db", "g-1.db", "g-2024.db"} {
		s := openStoreAt(t, filepath.Join(dir, name), resonance.Options{Create: true, Migrations: []fs.FS{ms}})
		if _, err := s.DB().Exec(`INSERT INTO a VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	migrate := func(name string, version int) {
		t.Helper()
		v := fmt.Sprintf("%03d", version)
		ms[v+"_m.sql"] = &fstest.MapFile{Data: []byte("-- migrate:up\nCREATE TABLE t" + v + " (x);\n-- migrate:down\n")}
		s := openStoreAt(t, filepath.Join(dir, name), resonance.Options{Migrations: []fs.FS{ms}, BackupKeep: 2})
		s.Close()
	}
	migrate("g-1.db", 2)
	migrate("g-2024.db", 3)
	others, _ := filepath.Glob(filepath.Join(dir, "backups", "g-[12]*.db"))
	if len(others) != 2 {
		t.Fatalf("backups of g-1.db and g-2024.db: %v, want one each", others)
	}
	for v := 4; v <= 8; v++ {
		migrate("g.db", v)
	}
	for _, p := range others {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("migrating g.db removed %s: %v", filepath.Base(p), err)
		}
	}
	all, _ := filepath.Glob(filepath.Join(dir, "backups", "*.db"))
	if len(all) != 4 {
		t.Errorf("backups %v, want g.db's newest 2 and the other two", all)
	}
}

// TestOpen_RemovesStalePreMigrationTemps: a temporary file left by a
// pre-migration backup whose process was killed is removed by the next
// one; another database's stays.
func TestOpen_RemovesStalePreMigrationTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.db")
	ms := fstest.MapFS{"001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")}}
	s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{ms}})
	if _, err := s.DB().Exec(`INSERT INTO a VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backups := filepath.Join(dir, "backups")
	if err := os.Mkdir(backups, 0o755); err != nil {
		t.Fatal(err)
	}
	dead := deadPid(t)
	stale := fmt.Sprintf(".p-20260101T000000.000000000Z-v001.db.tmp-%d-42", dead)
	other := fmt.Sprintf(".p-1-20260101T000000.000000000Z-v001.db.tmp-%d-42", dead)
	for _, name := range []string{stale, stale + "-journal", other} {
		if err := os.WriteFile(filepath.Join(backups, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ms["002_b.sql"] = &fstest.MapFile{Data: []byte("-- migrate:up\nCREATE TABLE b (x);\n-- migrate:down\n")}
	openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{ms}}).Close()
	outputtest.OnlyLeft(t, backups, "p-*.db", other)
}
