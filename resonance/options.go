package resonance

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/output"
)

// defaultBusyTimeout is how long a connection waits for a lock held by
// another connection before it gives up with ErrBusy.
const defaultBusyTimeout = 5 * time.Second

// defaultVectorCacheBytes is the default of Options.VectorCacheBytes.
const defaultVectorCacheBytes = 512 << 20

// Options configure Connect and Open. The zero value is the documented
// default for every field; Options are validated when the database is
// opened and cannot be changed afterwards.
type Options struct {
	// BusyTimeout is how long a connection waits for a lock before it
	// fails with ErrBusy. Zero means 5s; negative is
	// refused. It is the first setting applied to every connection (C1).
	BusyTimeout time.Duration

	// ReadOnly makes every connection behaviourally read-only: the file is
	// opened read-write (WAL readers need to write -shm) and
	// PRAGMA query_only is set, so writes fail with ErrReadOnly (C8).
	// A read-only Open applies no migrations.
	ReadOnly bool

	// Create creates the database file and its directory when they do not
	// exist. Without it, opening a missing path fails (C10).
	Create bool

	// Logger receives background events: long transactions, checkpoint
	// results, migrations applied, backups written, and the warning of
	// Close when the path no longer leads to the database the store had
	// open (removed, moved or replaced meanwhile). nil discards them. The
	// library returns errors; it never logs them.
	Logger *slog.Logger

	// MaxReaders is the size of the store's pool of read-only connections
	// used by Store.Read. Zero means max(4, 2×GOMAXPROCS). Each connection
	// holds two file descriptors (the database and -wal).
	MaxReaders int

	// VectorCacheBytes bounds the memory Store.SearchByVector keeps: a
	// copy of the embeddings, one byte per float and 20 bytes per node.
	// Zero means 512 MiB; negative keeps no copy (and writes no snapshot
	// of it into the database: see SearchByVector). The nodes that do not
	// fit are read from the database by every search. Reading the copy
	// allocates at most an eighth of the bound more (at least 1 MiB).
	VectorCacheBytes int64

	// ExternalCheckpoints leaves checkpointing to an outside replicator such
	// as Litestream (R1): every connection runs with wal_autocheckpoint = 0,
	// the store runs no background checkpoint, and Store.Checkpoint refuses
	// with ErrCheckpointsDisabled (W5). The -wal file persists after Close
	// (SQLITE_FCNTL_PERSIST_WAL), so the replicator resumes its stream;
	// nothing but the replicator bounds it.
	ExternalCheckpoints bool

	// BackupDir is where Open writes a consistent copy of a database that
	// holds data before migrating it (M6). Empty means "backups" beside the
	// database file. The newest BackupKeep copies are kept. It must be
	// owned by the database's owner or root, not be reached through a
	// symbolic link another user owns, and not be writable by every user
	// without the sticky bit: otherwise the migration is refused.
	BackupDir string

	// BackupKeep is how many pre-migration backups are kept. Zero means 7;
	// negative disables pre-migration backups.
	BackupKeep int

	// Migrations are the application's own migrations, applied together
	// with the library's embedded schema/ ones, never instead of them (A1).
	// Each FS holds dbmate migrations (VERSION_name.sql files with
	// -- migrate:up and -- migrate:down) at its root: MigrationsDir(dir),
	// or fs.Sub of an embed.FS. All are applied in file name order under
	// the M rules; a version used by two files is refused naming both.
	Migrations []fs.FS

	// ConnectHook, when set, runs on every new connection after the
	// connector has hardened it, with the go-sqlite3 connection: register
	// functions (RegisterFunc), collations or aggregators, load extensions
	// (A4). Every setting is read back after it: a hook that changed one,
	// or returned an error, fails the connection. It may run on several
	// goroutines at once, and must not close the connection. A commit hook
	// or authorizer it registers replaces the store's (T1, C7). On read-only
	// connections it runs with query_only on and ATTACH disabled (C8).
	ConnectHook func(*sqlite3.SQLiteConn) error

	// TraceConnect, when set, is called with each statement the connector
	// runs while hardening a new connection, in order. It exists for
	// diagnostics and for tests that prove the order of the settings.
	TraceConnect func(stmt string)

	// watch is the file identity of the Store these Options belong to:
	// every connector made from them refuses a new connection once the
	// path leads to another file (fileid.go). Nil outside a Store.
	watch *fileWatch
}

// withDefaults validates o and fills in the defaults. path is the database
// path as given; errors name the field that is wrong and touch nothing on disk.
func (o Options) withDefaults(path string) (Options, error) {
	if strings.TrimSpace(path) == "" {
		return o, errors.New("resonance: open: empty database path: pass a file path such as .resonance/resonance.db")
	}
	if inMemory(path) {
		return o, fmt.Errorf("resonance: open %q: in-memory databases are not supported: every pooled connection would get its own empty database; use a file", path)
	}
	if o.BusyTimeout < 0 {
		return o, fmt.Errorf("resonance: open %q: Options.BusyTimeout is %v: it must be zero (the default, %v) or positive", path, o.BusyTimeout, defaultBusyTimeout)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = defaultBusyTimeout
	}
	if o.BusyTimeout > 0 && o.BusyTimeout < time.Millisecond {
		return o, fmt.Errorf("resonance: open %q: Options.BusyTimeout is %v: SQLite counts in milliseconds; use at least 1ms", path, o.BusyTimeout)
	}
	if o.MaxReaders < 0 {
		return o, fmt.Errorf("resonance: open %q: Options.MaxReaders is %d: it must be zero (the default) or positive", path, o.MaxReaders)
	}
	if o.MaxReaders == 0 {
		o.MaxReaders = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.VectorCacheBytes == 0 {
		o.VectorCacheBytes = defaultVectorCacheBytes
	}
	if o.BackupKeep == 0 {
		o.BackupKeep = 7
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(o.Migrations) > 0 {
		if _, err := migrations(o.Migrations); err != nil {
			return o, err
		}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// O5: SQLite would open a device or a pipe, then create
		// PATH-journal beside it.
		if fi.IsDir() {
			return o, fmt.Errorf("resonance: open %q: %w: the path is a directory: name the database file inside it, e.g. %q", path, ErrInvalid, strings.TrimRight(path, "/")+"/resonance.db")
		}
		return o, fmt.Errorf("resonance: open %q: %w: the path is a %s, not a regular file: name a database file, or a path where one may be created", path, ErrInvalid, output.Kind(fi.Mode()))
	}
	return o, nil
}

// inMemory reports whether path names an in-memory database to SQLite:
// ":memory:" (with or without parameters), or a file: URI whose name is
// ":memory:" or which asks for mode=memory. Every other path is a file
// name taken literally, "x.db?mode=memory" included: the connector escapes
// it into its own file: URI.
func inMemory(path string) bool {
	if strings.HasPrefix(path, ":memory:") {
		return true
	}
	rest, ok := strings.CutPrefix(path, "file:")
	if !ok {
		return false
	}
	name, query, _ := strings.Cut(rest, "?")
	if strings.HasPrefix(name, ":memory:") {
		return true
	}
	q, err := url.ParseQuery(query)
	return err == nil && q.Get("mode") == "memory"
}
