package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/output"
)

// Backups are written with VACUUM INTO, which reads one snapshot of the
// database: writers in this and other processes keep going while it runs
// (WAL), and the copy is consistent and compacted. SQLite's online backup
// API was the alternative; it restarts whenever another connection writes,
// so under a steady writer it may never finish.
//
// VACUUM INTO is refused on a query_only connection ("attempt to write a
// readonly database"), and running it on the writer would hold this
// process's writes for its whole duration, so Store.Backup opens one
// dedicated hardened connection for it.

// backupPoll is how often Backup reports the size written so far.
const backupPoll = 100 * time.Millisecond

// Backup writes a consistent copy of the database to dest while writers in
// this and other processes keep writing (O2). The copy is compacted, in WAL
// mode, has the source file's permissions (without world write) and opens
// with Open like the original.
//
// dest must not exist: an existing file is refused with an error wrapping
// fs.ErrExist. A failed or cancelled backup leaves no partial file. A dest
// that is the database or its
// -wal, -shm or -journal file (by any name), a device or a directory is
// refused with ErrInvalid. A missing directory is an error wrapping
// fs.ErrNotExist. ErrClosed on a closed store.
//
// progress, when not nil, is called about every 100ms with the bytes
// written and the source's size, and once at the end with both the copy's
// size, from one goroutine at a time.
func (s *Store) Backup(ctx context.Context, dest string, progress func(copiedBytes, totalBytes int64)) error {
	if s.closed.Load() {
		return fmt.Errorf("resonance: backup %q: %w", s.path, ErrClosed)
	}
	o := s.opts
	o.ReadOnly, o.Create = false, false
	c, err := newConnector(s.path, o, "deferred")
	if err != nil {
		return err
	}
	pool := sql.OpenDB(c)
	defer pool.Close()
	pool.SetMaxOpenConns(1)
	if err := backupTo(ctx, pool, s.path, dest, progress); err != nil {
		return fmt.Errorf("resonance: backup %q to %q: %w", s.path, dest, err)
	}
	s.opts.Logger.Info("resonance: backup written", "db", s.path, "backup", dest)
	return nil
}

// vacuumInto writes a consistent, compacted copy of the database src
// behind pool to dest, which must not exist, as Backup does. It serves the
// pre-migration backup (M6), on the writer before anything is migrated.
func vacuumInto(ctx context.Context, pool *sql.DB, src, dest string) error {
	return backupTo(ctx, pool, src, dest, nil)
}

// backupTo implements Backup on a connection of pool that is not
// query_only. src is the database's path: dest may be neither it nor its
// -wal, -shm or -journal file (output.Create). Errors do not name src or
// dest: callers add them.
func backupTo(ctx context.Context, pool *sql.DB, src, dest string, progress func(int64, int64)) (err error) {
	out, err := output.Create(src, dest, false)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Abort()
		}
	}()
	if err := out.Close(); err != nil { // VACUUM INTO writes it by name
		return err
	}
	tmp := out.TempName()
	if fi, err := os.Stat(src); err == nil {
		_ = os.Chmod(tmp, fi.Mode().Perm()&^0o002)
	}

	stop := func() {}
	if progress != nil {
		var total int64
		if err := pool.QueryRowContext(ctx, "SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())").Scan(&total); err != nil {
			return classify(err)
		}
		stop = pollSize(tmp, total, progress)
	}
	_, err = pool.ExecContext(ctx, "VACUUM INTO ?", tmp)
	stop()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return errors.Join(cerr, classify(err))
		}
		return classify(err)
	}
	if err := finishCopy(tmp); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if progress != nil {
		size := fileSize(out.Dest())
		progress(size, size)
	}
	return nil
}

// finishCopy puts the fresh copy in WAL mode, as the original is (VACUUM
// INTO writes a rollback-journal file, which a query_only connection could
// not switch), then syncs it to disk.
func finishCopy(path string) error {
	// Nobody else knows the file yet: a plain connection will do.
	dsn := url.URL{Scheme: "file", Path: path, RawQuery: "mode=rw"}
	drv := &sqlite3.SQLiteDriver{}
	conn, err := drv.Open(dsn.String())
	if err != nil {
		return fmt.Errorf("opening the copy: %w", classify(err))
	}
	mode, err := queryString(conn.(*sqlite3.SQLiteConn), "PRAGMA journal_mode = WAL", func(string) {})
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("setting WAL mode on the copy: %w", classify(err))
	}
	if mode != "wal" {
		return fmt.Errorf("setting WAL mode on the copy: SQLite answered %q", mode)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pollSize calls progress with the size of path every backupPoll until the
// returned stop function is called; stop waits for the poller to end.
func pollSize(path string, total int64, progress func(int64, int64)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(backupPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(min(fileSize(path), total), total)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
