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
	// compact copy of the stored embeddings (one byte per float and 20
	// bytes per node), read whole by the first search and then caught up
	// after each commit by the rows that changed. Zero means 512 MiB, about
	// 1,300,000 embeddings of 384 floats; negative keeps no copy, and every search reads every
	// embedding from the database. The nodes that do not fit, the last
	// inserted, are read from the database by every search: the search
	// slows down in proportion to them (vectorindex.go).
	VectorCacheBytes int64

	// ExternalCheckpoints leaves checkpointing to an outside replicator such
	// as Litestream (R1): every connection runs with wal_autocheckpoint = 0,
	// the store runs no background checkpoint, and Store.Checkpoint refuses
	// with ErrCheckpointsDisabled (W5). Every connection also sets
	// SQLITE_FCNTL_PERSIST_WAL, so the last one to close still copies the
	// WAL into the database but keeps the -wal file with its header and
	// frames, and the replicator resumes its stream instead of starting
	// over; the -wal and -shm files stay beside the database after Close.
	// Nothing but the replicator bounds the -wal file then. The CLI sets it
	// with --external-checkpoints or RESONANCE_EXTERNAL_CHECKPOINTS=1; the
	// README's Replication section says when to use it and what it costs.
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
	// or fs.Sub of an embed.FS. All of them are applied in file name order,
	// as dbmate orders several directories, each in a transaction of its
	// own under the M rules, and recorded in dbmate's schema_migrations. A
	// version used by two files (the library's and the application's, or
	// two of the application's) is refused naming both. nil means the
	// library's migrations only; a database that records the application's
	// versions is then refused with ErrSchemaMismatch (M4).
	Migrations []fs.FS

	// ConnectHook, when set, runs on every new connection after the
	// connector has hardened it, with the go-sqlite3 connection: register
	// functions (RegisterFunc), collations or aggregators, load extensions
	// (A4). After it returns, every setting the connector made is read
	// back: a hook that changed one (mmap_size, say) fails the connection
	// with an error naming the rule (C4), as does an error it returns. It
	// may run on several goroutines at once, one connection each. A commit
	// hook it registers (RegisterCommitHook) replaces the one with which
	// the store's writer refuses commits inside a Store.Tx other than its
	// end's (T1); an authorizer (RegisterAuthorizer), the one that has a
	// connection whose settings a PRAGMA changed discarded (C7). On
	// read-only connections (a read-only store's, and every reader's) it
	// runs with query_only on and ATTACH disabled (C8): it may read, not
	// write, create TEMP objects or attach a database. It must not close
	// the connection.
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
