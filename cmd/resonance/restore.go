package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resonance-graph/resonancedb/internal/inuse"
	"github.com/resonance-graph/resonancedb/resonance"
)

const restoreHelp = "Put a backup in place of the database, keeping the database it replaces.\n\n" +
	"The backup is copied beside the database and checked first: it must pass integrity_check\n" +
	"and hold a schema this program knows (an older one is migrated, M1; a newer or unknown one\n" +
	"is refused, M4). Restore refuses while another process has the database open. The current\n" +
	"database, its WAL checkpointed into it, is kept as backups/NAME-TIME-before-restore.db beside\n" +
	"it; then the checked copy is renamed into place in one step, so the database's path never\n" +
	"holds a partial file. A copy left by an interrupted restore is removed by the next one.\n" +
	"The backup itself is only read. --force restores over a database that cannot be opened\n" +
	"(damaged, or not a database), keeping its files as they are, and where this system cannot\n" +
	"tell whether another process has it open (no /proc/locks)."

// restoreResult is what restore prints.
type restoreResult struct {
	DB     string `json:"db"`
	Backup string `json:"backup"`
	Kept   string `json:"kept,omitempty"` // where the replaced database went; empty when there was none
}

// restoreTemp is the prefix of the copy a restore checks beside the
// database: ".NAME.restore-", then the restoring process's id, "-" and a
// random suffix.
func restoreTemp(db string) string { return "." + filepath.Base(db) + ".restore-" }

func restoreFlags(fs *flag.FlagSet) {
	fs.Bool("force", false, "restore over a database that cannot be opened (keeping its files as they are), or where it cannot be told whether another process has it open")
}

func runRestore(e *env, flags *flag.FlagSet) error {
	if flags.NArg() != 1 {
		return usagef("want one BACKUP file")
	}
	backup, db := flags.Arg(0), e.dbPath
	fail := func(format string, args ...any) error {
		return fmt.Errorf("resonance: restore %q: "+format, append([]any{backup}, args...)...)
	}
	bi, err := os.Stat(backup)
	if err != nil {
		return fail("%w", err)
	}
	if !bi.Mode().IsRegular() {
		return fail("not a regular file")
	}
	if di, err := os.Stat(db); err == nil {
		if !di.Mode().IsRegular() {
			return fmt.Errorf("resonance: restore: the database %q is not a regular file; nothing was changed", db)
		}
		if os.SameFile(bi, di) {
			return fail("it is the database itself")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resonance: restore: %w", err)
	}
	if err := sqliteHeader(backup); err != nil {
		return fail("%w; nothing was changed", err)
	}
	if fi, err := os.Stat(backup + "-wal"); err == nil && fi.Size() > 0 {
		return fail("it has a -wal file of %s: it is a database in use or not closed cleanly, not a backup; open and close it once (e.g. `resonance --db %s integrity`), or make a backup with `resonance backup`", humanBytes(fi.Size()), shellQuote(backup))
	}
	if err := notInUse(db, boolFlag(flags, "force")); err != nil {
		return err
	}
	dir := filepath.Dir(db)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resonance: restore: %w", err)
	}
	removeRestoreTemps(db)
	mode := fs.FileMode(0o666) // as a new file gets it, less the umask
	if di, err := os.Stat(db); err == nil {
		mode = di.Mode().Perm()
	}
	tmp, err := copyToTemp(backup, dir, fmt.Sprintf("%s%d-", restoreTemp(db), os.Getpid()), mode)
	if err != nil {
		return fail("copying it beside the database: %w; nothing was changed", err)
	}
	defer removeDBFiles(tmp) // after the rename there is nothing left to remove
	if err := checkRestorable(e, tmp); err != nil {
		return fail("%w; nothing was changed", err)
	}

	res := restoreResult{DB: db, Backup: backup}
	if _, err := os.Stat(db); err == nil {
		if res.Kept, err = keepCurrent(e, db, boolFlag(flags, "force")); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return fmt.Errorf("resonance: restore: putting the copy in place of %q: %w; the database was not changed", db, err)
	}
	syncPath(dir)
	if e.json {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "restored %s from %s\n", db, backup)
	if res.Kept != "" {
		fmt.Fprintf(e.stdout, "the database it replaced is kept as %s\n", res.Kept)
	}
	return nil
}

// keepCurrent moves the current database at db to backups/ beside it, as
// NAME-TIME-before-restore.db, and returns that path. Its WAL is first
// checkpointed into it by a connection that closes last (SQLite then
// removes -wal and -shm), and it is linked there, so that db names it until
// the restored copy replaces it. A database that cannot be opened for
// that is refused, unless force: then its files are moved there as they
// are, -wal and -shm beside it.
func keepCurrent(e *env, db string, force bool) (string, error) {
	dir := filepath.Join(filepath.Dir(db), "backups")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("resonance: restore: %w; nothing was changed", err)
	}
	base := strings.TrimSuffix(filepath.Base(db), filepath.Ext(db))
	kept := filepath.Join(dir, fmt.Sprintf("%s-%s-before-restore.db", base, time.Now().UTC().Format("20060102T150405.000000000Z")))
	err := checkpointAndClose(e, db)
	switch {
	case err != nil && !force:
		return "", fmt.Errorf("resonance: restore: the current database %q cannot be checkpointed before it is kept: %w; nothing was changed. "+
			"To restore anyway, keeping its files as they are, add --force", db, bare(err))
	case err != nil:
		for _, suffix := range []string{"-wal", "-shm", ""} {
			if err := os.Rename(db+suffix, kept+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("resonance: restore: keeping the current database as %q: %w", kept, err)
			}
		}
		syncPath(dir)
		return kept, nil
	}
	if err := notInUse(db, force); err != nil {
		return "", err
	}
	if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() > 0 {
		return "", fmt.Errorf("resonance: restore: %q still has a -wal file of %s after its last connection closed; nothing was changed: run `resonance --db %s checkpoint` and try again", db, humanBytes(fi.Size()), shellQuote(db))
	}
	if err := os.Link(db, kept); err != nil {
		return "", fmt.Errorf("resonance: restore: keeping the current database as %q: %w; nothing was changed", kept, err)
	}
	syncPath(dir)
	// An empty -wal or a -shm left beside the database belongs to no one.
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	return kept, nil
}

// checkpointAndClose copies the WAL of the database at db into it and
// closes it, with hardened connections but no migration.
func checkpointAndClose(e *env, db string) error {
	pool, err := resonance.Connect(e.ctx, db, e.options(resonance.Options{}))
	if err != nil {
		return err
	}
	var busy, log, done int
	err = pool.QueryRowContext(e.ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
	if err == nil && busy != 0 {
		err = errors.New("the checkpoint was blocked by another connection")
	}
	if cerr := pool.Close(); err == nil {
		err = cerr
	}
	return err
}

// notInUse returns an error naming the processes other than this one that
// have the database at path open, or nil when none has. When that cannot be
// told (no /proc/locks), the restore is refused unless force, since the
// copy would be put in place under a program still writing the old file.
func notInUse(path string, force bool) error {
	pids, err := inuse.Processes(path)
	switch {
	case err != nil && !force:
		return fmt.Errorf("resonance: restore: cannot tell whether another process has %q open (%v); nothing was changed: "+
			"stop the programs using it, then restore with --force", path, err)
	case len(pids) > 0:
		return fmt.Errorf("resonance: restore: %q is open in %s; nothing was changed: stop the programs using it, then restore", path, inuse.Describe(pids))
	}
	return nil
}

// copyToTemp copies src to a new file in dir named prefix and a random
// suffix, synced, with the permissions mode (less the umask), and returns
// its path.
func copyToTemp(src, dir, prefix string, mode fs.FileMode) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var b [8]byte
	rand.Read(b[:])
	path := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// sqliteHeader checks that the file at path begins as a SQLite database
// does.
func sqliteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [16]byte
	if _, err := io.ReadFull(f, b[:]); err != nil || string(b[:]) != "SQLite format 3\x00" {
		return errors.New("not a SQLite database")
	}
	return nil
}

// checkRestorable opens the copy at path as the database will be opened,
// applying the migrations it lacks and refusing a schema this program does
// not know, and runs integrity_check on it.
func checkRestorable(e *env, path string) error {
	s, err := resonance.Open(e.ctx, path, e.options(resonance.Options{BackupKeep: -1}))
	if err != nil {
		return bare(err)
	}
	problems, err := s.IntegrityCheck(e.ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return bare(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("it fails integrity_check: %s", strings.Join(problems, "; "))
	}
	// The last connection to close copied the WAL into the file: a -wal
	// left with frames would stay behind when the file is renamed.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("its copy kept a -wal file of %s after it was closed", humanBytes(fi.Size()))
	}
	return nil
}

// removeRestoreTemps removes the copies interrupted restores of db left
// (O5): those of processes that no longer run.
func removeRestoreTemps(db string) {
	prefix := restoreTemp(db)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(db), globQuote(prefix)+"*"))
	for _, m := range matches {
		if strings.HasSuffix(m, "-wal") || strings.HasSuffix(m, "-shm") {
			continue
		}
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(m), prefix), "-")
		if n, err := strconv.Atoi(pid); err == nil && n > 0 && syscall.Kill(n, 0) != syscall.ESRCH {
			continue // a restore still running
		}
		removeDBFiles(m)
	}
}

// globQuote escapes the characters filepath.Match treats specially.
func globQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(s)
}

func removeDBFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// syncPath makes the entries of the directory dir durable; errors are
// ignored, as some file systems cannot sync directories.
func syncPath(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
