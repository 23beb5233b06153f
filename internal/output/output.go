// Package output writes a file from a database (a backup, an export)
// under a temporary name beside its destination, and gives it the
// destination's name only once it is complete and synced (O5). It refuses
// a destination that is the database or one of its companion files, a
// device or a directory, before anything is written.
package output

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// ErrInvalid: the destination was refused (it is the database or one of
// its files, a device, a directory…). The resonance package's ErrInvalid
// is this error.
var ErrInvalid = errors.New("invalid input")

// A File is a file being written from a database under a temporary name
// beside its destination: Commit gives it the destination's name once it
// is complete and synced, so an interrupted or failed output leaves the
// destination as it was.
//
// The temporary file is named ".NAME.tmp-PID-RANDOM", hidden, in the
// destination's directory, PID being the writing process. Temporary files
// of the same destination that an interrupted run left behind are removed
// by the next output to it: those whose process is no longer running on
// this machine, and those not modified for staleTempAge, which no running
// writer leaves so long.
type File struct {
	f       *os.File
	tmp     string // the temporary file
	dest    string // absolute path of the destination
	replace bool
}

// staleTempAge is how long a temporary output file may go unmodified before
// the next output to its destination removes it, whatever its PID says
// (the PID may have been reused by an unrelated process).
const staleTempAge = 24 * time.Hour

// Create starts writing dest from the database at db. It refuses,
// with ErrInvalid, a dest that is the database or its -wal, -shm or
// -journal file, whether named by the same path, through symbolic links, or
// as another name (hard link) of the same file, and a dest that is a
// device, a named pipe, a socket or a directory. An existing dest is
// refused with fs.ErrExist unless replace is set; a symbolic link whose
// target is missing counts as existing. A missing directory is an error
// wrapping fs.ErrNotExist that names it. Nothing is written before these
// checks pass.
//
// Write to the File, then Commit, or Abort to drop it. Commit replaces an
// existing dest only when replace is set. Errors do not name dest: callers
// add it.
func Create(db, dest string, replace bool) (*File, error) {
	abs, err := checkOutput(db, dest, replace)
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(abs)
	RemoveStaleTemps(dir, regexp.QuoteMeta(base))
	f, err := createTemp(dir, "."+base+".tmp-"+strconv.Itoa(os.Getpid())+"-", newFileMode(db))
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file in %q: %w", dir, err)
	}
	// A file it replaces keeps its mode, which may be looser than the umask:
	// that was the owner's choice.
	if fi, err := os.Stat(abs); err == nil {
		_ = f.Chmod(fi.Mode().Perm())
	}
	return &File{f: f, tmp: f.Name(), dest: abs, replace: replace}, nil
}

// newFileMode is the mode a new output is created with, before the
// kernel takes the umask away: readable and writable by everyone the
// database's own mode allows (0666 when there is no database), so the
// output is no more readable than the umask or the database permit.
func newFileMode(db string) os.FileMode {
	if db != "" {
		if fi, err := os.Stat(db); err == nil {
			return fi.Mode().Perm() & 0o666
		}
	}
	return 0o666
}

// createTemp creates a new file in dir named prefix followed by random
// digits, with mode perm less the umask (os.CreateTemp makes it 0600
// whatever the umask).
func createTemp(dir, prefix string, perm os.FileMode) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%w: no free temporary name %s* in %q", fs.ErrExist, prefix, dir)
}

// Write writes to the temporary file.
func (o *File) Write(p []byte) (int, error) { return o.f.Write(p) }

// TempName is the temporary file's path.
func (o *File) TempName() string { return o.tmp }

// Dest is the destination's absolute path.
func (o *File) Dest() string { return o.dest }

// Close closes the temporary file, for writers that write it by name
// (VACUUM INTO); Commit and Abort work after it.
func (o *File) Close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

// Commit syncs the temporary file and gives it the destination's name. On
// error the temporary file is removed and the destination left as it was.
func (o *File) Commit() (err error) {
	defer func() {
		if err != nil {
			o.Abort()
		}
	}()
	if o.f != nil {
		if err := o.f.Sync(); err != nil {
			return err
		}
		if err := o.Close(); err != nil {
			return err
		}
	}
	if o.replace {
		// The destination may have become a directory since the check.
		if fi, err := os.Stat(o.dest); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: %q is a %s now", ErrInvalid, o.dest, Kind(fi.Mode()))
		}
		err = os.Rename(o.tmp, o.dest)
	} else {
		err = publish(o.tmp, o.dest)
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(o.dest))
	return nil
}

// Abort closes and removes the temporary file (and the -journal, -wal and
// -shm files SQLite may have made beside it).
func (o *File) Abort() {
	o.Close()
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(o.tmp + suffix)
	}
}

// checkOutput returns the absolute path of dest after the checks
// Create documents. Its errors do not name dest.
func checkOutput(db, dest string, replace bool) (string, error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(abs)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("directory %q does not exist: %w: create it first", dir, fs.ErrNotExist)
	} else if err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%w: %q is not a directory", ErrInvalid, dir)
	}
	if err := notTheDatabase(db, abs); err != nil {
		return "", err
	}
	lfi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return abs, nil
	} else if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && lfi.Mode()&fs.ModeSymlink != 0:
		if !replace {
			target, _ := os.Readlink(abs)
			return "", fmt.Errorf("%w: it is a symbolic link to %q, which does not exist: remove the link or choose another name", fs.ErrExist, target)
		}
		return abs, nil
	case err != nil:
		return "", err
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%w: it is a %s, not a regular file: name a file", ErrInvalid, Kind(fi.Mode()))
	case !replace:
		return "", fmt.Errorf("%w: choose a new file name, or remove it first", fs.ErrExist)
	}
	return abs, nil
}

// notTheDatabase refuses an output path abs that is the database db or one
// of its -wal, -shm and -journal files: by path, with symbolic links
// resolved on either side, or by file identity.
func notTheDatabase(db, abs string) error {
	if db == "" {
		return nil
	}
	dbAbs, err := filepath.Abs(db)
	if err != nil {
		return err
	}
	dbs := []string{dbAbs}
	if real, err := filepath.EvalSymlinks(dbAbs); err == nil && real != dbAbs {
		dbs = append(dbs, real)
	}
	dests := resolvedPaths(abs)
	destInfo, destErr := os.Stat(abs)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		what := "the database"
		if suffix != "" {
			what = "the database's " + suffix + " file"
		}
		for _, d := range dbs {
			for _, p := range dests {
				if p == d+suffix {
					return fmt.Errorf("%w: it is %s %q: write the output to another file", ErrInvalid, what, d+suffix)
				}
			}
			if destErr != nil {
				continue
			}
			if fi, err := os.Stat(d + suffix); err == nil && os.SameFile(fi, destInfo) {
				return fmt.Errorf("%w: it is %s %q under another name: write the output to another file", ErrInvalid, what, d+suffix)
			}
		}
	}
	return nil
}

// resolvedPaths returns abs and the paths it leads to: with its directory's
// symbolic links resolved, and, when abs is a symbolic link, its target
// (even a missing one) resolved the same way.
func resolvedPaths(abs string) []string {
	paths := []string{abs}
	resolveDir := func(p string) {
		if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			paths = append(paths, filepath.Join(dir, filepath.Base(p)))
		}
	}
	resolveDir(abs)
	for range 40 { // SQLite's and Linux's limit on links followed
		target, err := os.Readlink(abs)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(abs), target)
		}
		abs = filepath.Clean(target)
		paths = append(paths, abs)
		resolveDir(abs)
	}
	return paths
}

// Kind names the type of a file that is not a regular file.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// RemoveStaleTemps removes from dir the temporary files (and their -journal,
// -wal and -shm) of outputs whose destination's base name matches the
// regular expression name and whose writing process is gone or which have
// not been modified for staleTempAge. Errors are ignored: a file that
// cannot be removed is left for the next run.
func RemoveStaleTemps(dir, name string) {
	re, err := regexp.Compile(`^\.(?:` + name + `)\.tmp-([0-9]+)-[0-9]+(?:-journal|-wal|-shm)?$`)
	if err != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || !processRunning(pid) || time.Since(info.ModTime()) > staleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// processRunning reports whether a process with this id runs on this
// machine (signal 0 checks without sending anything; EPERM means it runs
// as another user).
func processRunning(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// publish gives the finished copy tmp its name dest. A hard link, unlike a
// rename, refuses to replace a dest created while the output was written; on file
// systems without hard links it falls back to checking, then renaming.
func publish(tmp, dest string) error {
	err := os.Link(tmp, dest)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: the destination was created while the output was written; nothing was overwritten", fs.ErrExist)
	}
	if _, serr := os.Lstat(dest); serr == nil {
		return fmt.Errorf("%w: the destination was created while the output was written; nothing was overwritten", fs.ErrExist)
	}
	return os.Rename(tmp, dest)
}

// syncDir makes a new directory entry durable; errors are ignored, as some
// file systems cannot sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
