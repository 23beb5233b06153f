package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/internal/poller"
)

// connector opens hardened connections to one database file. database/sql
// calls Connect for every connection it adds to a pool, so every connection,
// not just the first, carries the same settings (C7).
type connector struct {
	path    string // absolute path of the database file
	opts    Options
	dsn     string
	pragmas []pragma
	plan    hardenPlan            // the statements of the connect hook, built once
	drv     *sqlite3.SQLiteDriver // hardens every connection it opens, for Driver()
	plain   *sqlite3.SQLiteDriver // Connect's, which hardens them itself
	// guard gives each connection the commit hook of a Store's writer:
	// inside a transaction of Store.Tx only its end may commit (T1).
	guard bool
}

var _ driver.Connector = (*connector)(nil)

// newConnector validates nothing: callers pass Options that went through
// withDefaults.
func newConnector(path string, o Options, txlock string) (*connector, error) {
	return newRoleConnector(path, o, txlock, false)
}

// newStoreWriterConnector is newConnector for a Store's writer connection,
// which also carries the page cache and checkpoint settings of
// requiredPragmas (storeWriter); a read-only store's writer does not.
func newStoreWriterConnector(path string, o Options, txlock string) (*connector, error) {
	return newRoleConnector(path, o, txlock, !o.ReadOnly)
}

func newRoleConnector(path string, o Options, txlock string, storeWriter bool) (*connector, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resonance: open %q: %w", path, err)
	}
	if err := poller.Start(); err != nil {
		return nil, fmt.Errorf("resonance: open %q: %w", abs, explainOS(err))
	}
	c := &connector{path: abs, opts: o, pragmas: requiredPragmas(o, storeWriter), guard: storeWriter}
	c.dsn = buildDSN(abs, o, txlock, c.pragmas)
	c.plan = newHardenPlan(c.pragmas)
	c.drv = &sqlite3.SQLiteDriver{ConnectHook: c.harden}
	c.plain = &sqlite3.SQLiteDriver{}
	return c, nil
}

// buildDSN makes a file: URI for go-sqlite3. The path is escaped by net/url,
// so '?' and '#' in file names are safe. mode=rw keeps SQLite from creating a
// missing file unless Options.Create asked for it. The settings with a DSN
// parameter are applied by the driver's Open: busy_timeout is the very first
// statement it runs on every connection (C1).
func buildDSN(abs string, o Options, txlock string, ps []pragma) string {
	q := url.Values{}
	if o.Create {
		q.Set("mode", "rwc")
	} else {
		q.Set("mode", "rw")
	}
	for _, p := range ps {
		if p.dsn != "" {
			q.Set(p.dsn, p.dsnValue())
		}
	}
	q.Set("_txlock", txlock)
	q.Set("_stmt_cache_size", "64")
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String()
}

// Connect opens one connection and hardens it.
func (c *connector) Connect(context.Context) (driver.Conn, error) {
	if err := c.opts.watch.verify(c.path); err != nil {
		return nil, fmt.Errorf("resonance: open a connection: %w", err)
	}
	conn, err := c.plain.Open(c.dsn)
	if err != nil {
		return nil, c.openError(err)
	}
	sc := conn.(*sqlite3.SQLiteConn)
	// C8: errors of raw pools wrap the sentinels; C7: settings kept.
	cc := &classifiedConn{SQLiteConn: sc, c: c}
	if c.guard {
		// Before the application's ConnectHook, which may replace it.
		sc.RegisterCommitHook(cc.commitHook)
	}
	// Before the application's ConnectHook, which may replace it; the
	// connector's own settings do not count.
	sc.RegisterAuthorizer(cc.authorize)
	if err := c.harden(sc); err != nil {
		sc.Close()
		return nil, c.openError(err)
	}
	cc.settingSet = false
	return cc, nil
}

// Driver returns the underlying go-sqlite3 driver.
func (c *connector) Driver() driver.Driver { return c.drv }

func (c *connector) trace(stmt string) {
	if c.opts.TraceConnect != nil {
		c.opts.TraceConnect(stmt)
	}
}

// harden applies the required settings to a freshly opened connection and
// reads each one back. Any error fails the connection: the driver closes it
// and database/sql never hands it out.
//
// The driver's Open has already run busy_timeout (first, C1), foreign_keys,
// synchronous and, on a store's writer, cache_size from the DSN. The hook
// then runs, each statement traced:
// busy_timeout again, which also answers with the value in effect; a read of
// journal_mode, and a switch to WAL only when it is not WAL yet (C2); one
// exec setting the remaining pragmas; one PRAGMA per setting to read it back
// (mmap_size and wal_autocheckpoint are set by that same statement, which
// answers with the value in effect). A plan built once per connector holds
// every statement, so nothing is formatted here.
func (c *connector) harden(conn *sqlite3.SQLiteConn) error {
	// C1: busy_timeout is in effect before anything that could take a lock.
	if err := c.verify(conn, 0); err != nil {
		return err
	}
	if err := c.journalWAL(conn); err != nil {
		return err
	}
	if c.plan.set != "" {
		c.trace(c.plan.set)
		if _, err := conn.Exec(c.plan.set, nil); err != nil {
			return fmt.Errorf("applying pragmas: %w", err)
		}
	}
	for i := 1; i < len(c.pragmas); i++ {
		if err := c.verify(conn, i); err != nil {
			return err
		}
	}
	if c.opts.ExternalCheckpoints {
		// R1: the last connection to close keeps the -wal file, so that
		// a replicator started later resumes its stream instead of taking
		// a full snapshot (see Options.ExternalCheckpoints).
		if err := conn.SetFileControlInt("main", sqlite3.SQLITE_FCNTL_PERSIST_WAL, 1); err != nil {
			return fmt.Errorf("keeping the WAL on close (SQLITE_FCNTL_PERSIST_WAL): %w", err)
		}
	}
	if c.opts.ReadOnly {
		// query_only refuses writes to an attached database, but ATTACH
		// would create its file first: a reader attaches nothing more,
		// not even in the connect hook.
		conn.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	}
	return c.runHook(conn)
}

// journalWAL reads journal_mode and switches to WAL only when it is not WAL
// already, so opening a WAL database never needs the write lock (C2).
//
// The switch needs an exclusive lock, which SQLite tries once without
// calling the busy handler: when processes open a new database at the same
// moment, it fails at once with SQLITE_BUSY while another one reads the
// file. Within the busy timeout it is tried again, after reading the mode
// again (the other process may have switched it already): no busy error
// reaches the caller that busy_timeout would have waited through (C1).
func (c *connector) journalWAL(conn *sqlite3.SQLiteConn) error {
	deadline := time.Now().Add(c.opts.BusyTimeout)
	wait := time.Millisecond
	for {
		mode, err := queryString(conn, "PRAGMA journal_mode", c.trace)
		if err != nil {
			return fmt.Errorf("C2 journal_mode: %w", err)
		}
		if strings.EqualFold(mode, "wal") {
			return nil
		}
		mode, err = queryString(conn, "PRAGMA journal_mode = WAL", c.trace)
		if code, _, _ := sqliteCode(err); code == sqlite3.ErrBusy && time.Now().Add(wait).Before(deadline) {
			time.Sleep(wait)
			wait = min(2*wait, 50*time.Millisecond)
			continue
		}
		if err != nil {
			return fmt.Errorf("C2 journal_mode = WAL: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("C2 journal_mode: asked for wal, SQLite answered %q", mode)
		}
		return nil
	}
}

// verify runs the read-back statement of pragma i and compares its answer
// with the value the setting must have.
func (c *connector) verify(conn *sqlite3.SQLiteConn, i int) error {
	p := &c.pragmas[i]
	got, err := queryString(conn, c.plan.check[i], c.trace)
	if err != nil {
		return fmt.Errorf("%s %s: reading it back: %w", p.rule, p.name, err)
	}
	if got != p.expect {
		return fmt.Errorf("%s %s: set %s, read back %q", p.rule, p.name, p.value, got)
	}
	return nil
}

// queryString runs a statement that returns one text value.
func queryString(conn *sqlite3.SQLiteConn, stmt string, trace func(string)) (string, error) {
	row, err := queryRow(conn, stmt, 1, trace)
	if err != nil {
		return "", err
	}
	return row[0], nil
}

// queryRow runs stmt on a raw driver connection and returns the first row's
// first n columns as text.
func queryRow(conn *sqlite3.SQLiteConn, stmt string, n int, trace func(string)) ([]string, error) {
	trace(stmt)
	rows, err := conn.Query(stmt, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(vals); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s returned no row", stmt)
		}
		return nil, err
	}
	if len(vals) < n {
		return nil, fmt.Errorf("%s returned %d columns, want %d", stmt, len(vals), n)
	}
	out := make([]string, n)
	for i := range out {
		switch v := vals[i].(type) {
		case []byte:
			out[i] = string(v)
		case string:
			out[i] = v
		case int64:
			out[i] = strconv.FormatInt(v, 10)
		case nil:
			out[i] = ""
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out, nil
}

// openError turns a failure to open or harden a connection into an error
// that names the file, the cause and the fix.
func (c *connector) openError(err error) error {
	var he hookError
	if errors.As(err, &he) {
		return fmt.Errorf("resonance: open %q: %w", c.path, classify(err))
	}
	if en := systemErrno(err); en == syscall.EMFILE || en == syscall.ENFILE {
		return fmt.Errorf("resonance: open %q: %w", c.path, explainOS(err))
	}
	code, ext, ok := sqliteCode(err)
	dir := filepath.Dir(c.path)
	switch {
	case deletedWhileOpen(c.path):
		return deletedError(c.path)
	case systemErrno(err) == syscall.ENOENT && missingCompanion(c.path) != "":
		return fmt.Errorf("resonance: open %q: %w: %s", c.path, err, missingCompanion(c.path))
	case ok && code == sqlite3.ErrCantOpen:
		if _, statErr := os.Stat(c.path); errors.Is(statErr, os.ErrNotExist) {
			if !c.opts.Create {
				return fmt.Errorf("resonance: open %q: %w: create the database with Options.Create", c.path, os.ErrNotExist)
			}
			if derr := dirWritable(dir); fsfix.ReadOnly(derr) {
				return fmt.Errorf("resonance: open %q: %w: cannot create the database: directory %q is on a file system mounted read-only; choose a path on a writable one", c.path, err, dir)
			} else if derr != nil {
				return fmt.Errorf("resonance: open %q: %w: cannot create the database: directory %q is not writable by uid %d; %s, or choose another path", c.path, err, dir, os.Geteuid(), dirFix(c.path, derr))
			}
		}
		if derr := dirWritable(dir); derr != nil {
			return c.readonlyTrap(err, dir, derr)
		}
		return fmt.Errorf("resonance: open %q: %w: check that the file is readable and writable by uid %d", c.path, err, os.Geteuid())
	case ok && code == sqlite3.ErrReadonly:
		// SQLITE_READONLY_CANTINIT (1288) and _DIRECTORY (1544), or plain
		// READONLY while WAL recovery runs: the connection could not create
		// or write -shm/-wal.
		if derr := dirWritable(dir); derr != nil {
			return c.readonlyTrap(err, dir, derr)
		}
		_ = ext
		return fmt.Errorf("resonance: open %q: %w: %w: the database or its %s-shm/%s-wal files are not writable by uid %d; every connection, even a reader, needs write access to them in WAL mode; run `%s`", c.path, ErrReadOnly, err, filepath.Base(c.path), filepath.Base(c.path), os.Geteuid(), fsfix.Command("doctor", c.path, c.opts.Migrations, c.opts.ExternalCheckpoints))
	case ok && (code == sqlite3.ErrBusy || code == sqlite3.ErrLocked):
		return fmt.Errorf("resonance: open %q: %w: %w: another connection held a lock for longer than the busy timeout (%v); find the long transaction or raise Options.BusyTimeout", c.path, ErrBusy, err, c.opts.BusyTimeout)
	case fsfix.NoSpace(systemErrno(err)) || ok && code == sqlite3.ErrFull:
		return fmt.Errorf("resonance: open %q: %w: %s", c.path, err, fsfix.NoSpaceFix(dir))
	case ok && (code == sqlite3.ErrCorrupt || code == sqlite3.ErrNotADB):
		if p := fsfix.SizeProblem(c.path); p != "" {
			return fmt.Errorf("resonance: open %q: %w: %s; %s", c.path, err, p, fsfix.DamagedFix(c.path))
		}
		if code == sqlite3.ErrCorrupt {
			return fmt.Errorf("resonance: open %q: %w: the database is damaged; %s", c.path, err, fsfix.DamagedFix(c.path))
		}
		return fmt.Errorf("resonance: open %q: %w: the file is not a SQLite database", c.path, err)
	}
	return fmt.Errorf("resonance: open %q: %w", c.path, classify(err))
}

// readonlyTrap explains the WAL readonly trap (W2): a process that cannot
// write the directory can read a WAL database only while another process
// keeps -shm alive; once the last one closes, -shm is gone and cannot be
// created again. dirErr is why the directory is not writable.
func (c *connector) readonlyTrap(err error, dir string, dirErr error) error {
	why := fmt.Sprintf("is not writable by uid %d", os.Geteuid())
	if fsfix.ReadOnly(dirErr) {
		why = "is on a file system mounted read-only"
	}
	return fmt.Errorf("resonance: open %q: %w: %w: directory %q %s: WAL needs to create %s-shm and %s-wal there (readers too, once no other process holds the database open); %s",
		c.path, ErrReadOnly, err, dir, why, filepath.Base(c.path), filepath.Base(c.path), dirFix(c.path, dirErr))
}

// dirFix says how to make the directory of the database at db writable
// for the current user, given why it is not (dirErr).
func dirFix(db string, dirErr error) string {
	if fsfix.ReadOnly(dirErr) {
		return fsfix.ReadOnlyFix(db)
	}
	dir := filepath.Dir(db)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Sprintf("chmod u+wx %s", fsfix.Quote(dir))
	}
	return fsfix.Grant(dir, fi, "wx")
}

// dirWritable reports whether the current user may create and remove files
// in dir (write and search permission), as the kernel would decide it.
func dirWritable(dir string) error {
	return syscall.Access(dir, 0x2|0x1) // W_OK|X_OK
}

// Connect returns a pool of hardened connections to the database at path:
// every connection database/sql ever opens in it runs busy_timeout first,
// is in WAL mode, and carries synchronous NORMAL, mmap_size 0, temp_store
// MEMORY and foreign_keys ON, each read back (rules C1–C8). With o.ReadOnly every connection is query_only and
// writes fail with ErrReadOnly.
//
// Connect refuses bad Options before touching the disk (C11) and a missing
// file unless o.Create is set (C10). It opens one connection before it
// returns, so a database that cannot be opened fails here.
func Connect(ctx context.Context, path string, o Options) (*sql.DB, error) {
	o, err := o.withDefaults(path)
	if err != nil {
		return nil, err
	}
	if err := prepareFile(path, o); err != nil {
		return nil, err
	}
	txlock := "immediate"
	if o.ReadOnly {
		txlock = "deferred" // query_only connections cannot BEGIN IMMEDIATE
	}
	c, err := newConnector(path, o, txlock)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// prepareFile checks that path exists, or creates its directory when
// o.Create allows it. Directories are created without world write access.
// A read-only open of an empty file is refused: switching it to WAL (C2)
// would write to it.
func prepareFile(path string, o Options) error {
	if txidFile, txid, ok := fsfix.LitestreamFollower(path); ok && !o.ReadOnly {
		return fmt.Errorf("resonance: open %q: %w: the file is a Litestream follower: `litestream restore -f` writes the replica's pages into it "+
			"(%s records transaction %s), so a write here would be overwritten or leave it malformed; open it read-only "+
			"(Options.ReadOnly, or the commands stats, export, search, integrity, doctor), or, to make it a database of its own, "+
			"stop `litestream restore -f` and remove %s", path, ErrReadOnly, txidFile, txid, txidFile)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && o.ReadOnly && fi.Size() == 0 && fileSize(path+"-wal") == 0:
		return fmt.Errorf("resonance: open %q: the file is empty, not a database yet, and a read-only open writes nothing: create the database with Options.Create", path)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("resonance: open %q: %w", path, err)
	case deletedWhileOpen(path):
		return deletedError(path)
	case !o.Create:
		return fmt.Errorf("resonance: open %q: %w: create the database with Options.Create", path, os.ErrNotExist)
	case o.ReadOnly:
		return fmt.Errorf("resonance: open %q: %w: a read-only store cannot create the database: open it read-write once (resonance init --db %s)", path, os.ErrNotExist, path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resonance: create %q: %w", dir, err)
	}
	return nil
}
