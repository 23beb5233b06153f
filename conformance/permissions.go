package conformance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
)

// Finding is one permission problem CheckPermissions found (rule W1).
type Finding struct {
	Rule    string `json:"rule"`    // always "W1"
	Path    string `json:"path"`    // the file or directory that is wrong
	Problem string `json:"problem"` // what is wrong, and for which user
	Fix     string `json:"fix"`     // a command or step that fixes it
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %s: %s; fix: %s", f.Rule, f.Path, f.Problem, f.Fix)
}

// CheckPermissions checks, for the user running it (effective uid and
// groups), what rule W1 says every process opening the WAL database at path
// needs:
//
//   - write and search permission on the directory, to create and remove
//     the -wal and -shm files;
//   - read and write permission on the database file (resonance opens every
//     connection read-write, readers too);
//   - read and write permission on -shm, and read permission on -wal (write
//     for writers), when they exist;
//   - none of them world-writable.
//
// It returns one Finding per problem, naming the file or directory and the
// fix; an empty result means this user can use the database. It only looks:
// it opens nothing and changes nothing. A missing database file is a
// finding too, with the command that creates it.
func CheckPermissions(path string) []Finding {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	// SQLite follows a symbolic link to the database and keeps -wal and
	// -shm beside the file it leads to: check that directory.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	dir, base := filepath.Dir(abs), filepath.Base(abs)
	who := currentUser()
	var out []Finding
	add := func(p, problem, fix string) {
		out = append(out, Finding{Rule: "W1", Path: p, Problem: problem, Fix: fix})
	}

	dfi, err := os.Stat(dir)
	if err != nil {
		add(dir, fmt.Sprintf("directory %q cannot be examined by %s: %v", dir, who, err),
			fmt.Sprintf("create it (mkdir -p %s), or give %s search permission (x) on every directory above it", fsfix.Quote(dir), who))
		return out
	}
	err = access(dir, accessWX)
	if fsfix.ReadOnly(err) {
		add(dir, fmt.Sprintf("the file system holding %q is mounted read-only: SQLite cannot create %s-wal and %s-shm there, and in WAL mode every connection, readers too, needs them", dir, base, base),
			fsfix.ReadOnlyFix(abs))
	} else if err != nil {
		add(dir, fmt.Sprintf("directory %q is not writable and searchable by %s: SQLite creates and removes %s-wal and %s-shm there; "+
			"a reader then works only while another process keeps the database open, and fails with \"attempt to write a readonly database\" once the last one closes it",
			dir, who, base, base),
			fsfix.Grant(dir, dfi, "wx"))
	}
	if dfi.Mode().Perm()&0o002 != 0 && dfi.Mode()&os.ModeSticky == 0 {
		add(dir, fmt.Sprintf("directory %q is world-writable without the sticky bit: any user can delete or replace the database and its -wal and -shm", dir),
			"chmod o-w "+fsfix.Quote(dir))
	}

	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		add(abs, fmt.Sprintf("database %q does not exist", abs), "create it: resonance init --db "+fsfix.Quote(abs))
		return out
	case err != nil:
		add(abs, fmt.Sprintf("database %q cannot be examined by %s: %v", abs, who, err),
			fmt.Sprintf("give %s search permission (x) on %s and every directory above it", who, fsfix.Quote(dir)))
		return out
	case fi.IsDir():
		add(abs, fmt.Sprintf("%q is a directory, not a database file", abs), "name the database file inside it, e.g. "+fsfix.Quote(filepath.Join(abs, "resonance.db")))
		return out
	case !fi.Mode().IsRegular(): // a device, a named pipe, a socket: SQLite would create PATH-journal beside it
		add(abs, fmt.Sprintf("%q is not a regular file (mode %v), not a database file", abs, fi.Mode()), "name a database file with --db")
		return out
	}

	companion := ". SQLite creates -wal and -shm with the owner and permissions of the database file: give every user of the database a common group, make the database group-writable (chmod g+rw) and its directory too (chmod g+rwx), and remove stale -wal/-shm files only while no process has the database open."
	files := []struct {
		path, why string
		mode      uint32
		extra     string
	}{
		{abs, "every resonance connection, readers too, opens the database read-write (SQLite would fall back to read-only and writes would fail with ErrReadOnly)", accessRW, ""},
		{abs + "-shm", "every connection, readers too, writes the shared-memory index in -shm", accessRW, companion},
		{abs + "-wal", "readers read -wal and writers append to it", accessRW, companion},
	}
	for _, f := range files {
		ffi, err := os.Stat(f.path)
		if errors.Is(err, fs.ErrNotExist) && f.path != abs {
			continue // created on open, which the directory check covers
		}
		if err != nil {
			add(f.path, fmt.Sprintf("%q cannot be examined by %s: %v", f.path, who, err), "check the permissions of "+fsfix.Quote(dir))
			continue
		}
		var missing []string
		if access(f.path, accessR) != nil {
			missing = append(missing, "read")
		}
		if err := access(f.path, accessW); err != nil && !fsfix.ReadOnly(err) { // a read-only mount is reported once, above
			missing = append(missing, "write")
		}
		if len(missing) > 0 {
			add(f.path, fmt.Sprintf("%s cannot %s %q: %s", who, strings.Join(missing, " or "), f.path, f.why),
				fsfix.Grant(f.path, ffi, "rw")+f.extra)
		}
		if ffi.Mode().Perm()&0o002 != 0 {
			add(f.path, fmt.Sprintf("%q is world-writable: any user on the machine can corrupt the database", f.path),
				"chmod o-w "+fsfix.Quote(f.path))
		}
	}
	return out
}

// currentUser names the effective user, e.g. `uid 65534 (nobody)`.
func currentUser() string { return fsfix.DescribeUser(os.Geteuid()) }

// quote quotes p for a POSIX shell when it needs it.
func quote(p string) string { return fsfix.Quote(p) }
