package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/internal/output"
	"github.com/resonance-graph/resonancedb/schema"
)

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common for reads.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// createMigrationsDD creates dbmate's own table, so `dbmate status` and the library
// agree on what is applied. Its definition matches dbmate's sqlite driver.
const (
	createMigrationsDD = `CREATE TABLE IF NOT EXISTS "schema_migrations" (version varchar(128) primary key)`
)

// migrationFile matches dbmate's migration file names: VERSION_name.sql.
var migrationFile = regexp.MustCompile(`^(\d+).*\.sql$`)

// MigrationStatus is one migration known to the binary or recorded in the
// database.
type MigrationStatus struct {
	Version string `json:"version"`
	File    string `json:"file,omitempty"` // empty for a version only the database records, unknown to this binary
	Applied bool   `json:"applied"`
}

// libraryMigrations names the embedded schema/ in errors and status.
const libraryMigrations = "schema/ (embedded in resonance)"

// migrations lists the library's embedded migrations and the application's
// (Options.Migrations) together, ordered by file name as dbmate orders the
// files of several directories: with dbmate's timestamp versions, that is
// version order. A version given twice, by the library and the application
// or by two of the application's directories, is refused naming both files
// (A1): dbmate records versions, not files, so one of them would never run.
func migrations(app []fs.FS) ([]dbmate.Migration, error) {
	type origin struct{ file, source string }
	seen := map[string]origin{}
	var ms []dbmate.Migration
	for i, fsys := range append([]fs.FS{schema.FS}, app...) {
		source := libraryMigrations
		if i > 0 {
			source = migrationSourceName(app[i-1], i-1)
		}
		if fsys == nil {
			return nil, fmt.Errorf("resonance: migrations: %s is nil: %w", source, ErrInvalid)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, fmt.Errorf("resonance: reading migrations in %s: %w", source, err)
		}
		n := 0
		for _, e := range entries {
			m := migrationFile.FindStringSubmatch(e.Name())
			if e.IsDir() || m == nil {
				continue
			}
			if prev, ok := seen[m[1]]; ok {
				fix := "give the application's migration a version of its own (`dbmate new NAME` takes one from the clock)"
				if prev.source == libraryMigrations && prev.file == m[0] {
					// The same file: a copy of ours (resonance schema DIR
					// writes them for sqlc), not a migration of the
					// application's.
					fix = fmt.Sprintf("%s holds a copy of the library's own migrations (as `resonance schema` writes them): pass only the application's migrations directory", source)
				}
				return nil, fmt.Errorf("resonance: migrations: version %s is used twice: %q in %s and %q in %s: %w: %s",
					m[1], prev.file, prev.source, m[0], source, ErrInvalid, fix)
			}
			seen[m[1]] = origin{m[0], source}
			ms = append(ms, dbmate.Migration{FileName: m[0], FilePath: m[0], FS: fsys, Version: m[1]})
			n++
		}
		if n == 0 && i > 0 {
			return nil, fmt.Errorf("resonance: migrations: %s holds no migration file (VERSION_name.sql) at its root: %w: point it at the directory that holds them (for an embed.FS, fs.Sub(fsys, \"migrations\"))", source, ErrInvalid)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].FileName < ms[j].FileName })
	return ms, nil
}

// migrationSourceName names the application's i-th migration FS in errors:
// its String method when it has one (MigrationsDir's names the directory).
func migrationSourceName(fsys fs.FS, i int) string {
	if s, ok := fsys.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("Options.Migrations[%d]", i)
}

// MigrationsDir returns the migrations in the directory dir, in dbmate's
// format, for Options.Migrations; errors name the directory.
func MigrationsDir(dir string) fs.FS { return migrationsDir{os.DirFS(dir), dir} }

type migrationsDir struct {
	fs.FS
	dir string
}

func (d migrationsDir) String() string { return d.dir }

// appliedVersions reads dbmate's table through q; a database without the
// table has applied nothing.
func appliedVersions(ctx context.Context, q querier) ([]string, error) {
	var exists bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&exists)
	if err != nil || !exists {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT version FROM "schema_migrations" ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

func migrationStatus(ms []dbmate.Migration, applied []string) []MigrationStatus {
	var out []MigrationStatus
	known := map[string]bool{}
	for _, m := range ms {
		known[m.Version] = true
		out = append(out, MigrationStatus{Version: m.Version, File: m.FileName, Applied: slices.Contains(applied, m.Version)})
	}
	for _, v := range applied {
		if !known[v] {
			out = append(out, MigrationStatus{Version: v, Applied: true})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// unknownVersions returns the applied versions this binary has no file for.
func unknownVersions(ms []dbmate.Migration, applied []string) []string {
	known := make(map[string]bool, len(ms))
	for _, m := range ms {
		known[m.Version] = true
	}
	var unknown []string
	for _, v := range applied {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	return unknown
}

// migrate brings the database to the newest version: the embedded
// migrations and the application's. In order: a database made by the
// original is converted (adopt.go, X1); versions this binary does not know
// are refused (M4); a read-only store stops at the first pending
// migration; a database that holds data is backed up (M6); then each
// pending migration runs in its own transaction (applyPending).
func (s *Store) migrate(ctx context.Context) error {
	if err := s.adoptOriginal(ctx); err != nil {
		return err
	}
	ms, err := migrations(s.opts.Migrations)
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, s.writer)
	if err != nil {
		return fmt.Errorf("resonance: open %q: reading schema_migrations: %w", s.path, classify(err))
	}
	if err := s.checkKnown(ms, applied); err != nil {
		return err
	}
	var pending []dbmate.Migration
	for _, m := range ms {
		if !slices.Contains(applied, m.Version) {
			pending = append(pending, m)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("resonance: open %q: %w: %d migration(s) not applied yet (first: %s); a read-only store applies none: open it read-write once, e.g. `%s`", s.path, ErrSchemaMismatch, len(pending), pending[0].FileName, fsfix.Command("migrate up", s.path, s.opts.Migrations, s.opts.ExternalCheckpoints))
	}
	if err := s.backupBeforeMigrating(ctx, applied); err != nil {
		return err
	}
	return s.applyPending(ctx, ms, pending, len(applied))
}

// backupBeforeMigrating writes the pre-migration backup of a database that
// has migrations applied and holds data (M6), unless backups are off.
func (s *Store) backupBeforeMigrating(ctx context.Context, applied []string) error {
	if len(applied) == 0 || s.opts.BackupKeep <= 0 {
		return nil
	}
	data, err := holdsData(ctx, s.writer)
	if err != nil {
		return fmt.Errorf("resonance: open %q: looking for data to back up: %w", s.path, classify(err))
	}
	if !data {
		return nil
	}
	return s.preMigrationBackup(ctx, applied[len(applied)-1])
}

// applyPending runs the pending migrations, each in its own transaction
// (applyMigration); recorded is how many versions the database records.
//
// The migrations run on a connection that is closed after them, never on
// one the store writes on afterwards: what their statements leave on their
// connection (TEMP triggers, tables and views, attached databases, changed
// settings) must not follow the store's writes. A migration that leaves
// any of it gets the connection closed before the next one runs, too. (A
// new connection for every migration would read the whole schema again
// each time.)
func (s *Store) applyPending(ctx context.Context, ms, pending []dbmate.Migration, recorded int) (err error) {
	var mc *migrationConn
	defer func() { mc.close() }()
	for _, m := range pending {
		if mc == nil {
			if mc, err = s.newMigrationConn(ctx); err != nil {
				return err
			}
		}
		if err := s.applyMigration(ctx, mc, ms, m, &recorded); err != nil {
			return err
		}
		if mc.leftOver(ctx) {
			mc.close()
			mc = nil
		}
	}
	return nil
}

// holdsData reports whether a table other than the bookkeeping ones
// (schema_migrations, _health and SQLite's own) has a row. Only such a
// database gets a pre-migration backup (M6): one that a concurrent opener
// is migrating for the first time has applied versions but nothing to keep.
func holdsData(ctx context.Context, q querier) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('schema_migrations', '_health')`)
	if err != nil {
		return false, err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return false, err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, t := range tables {
		var data bool
		if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM "`+strings.ReplaceAll(t, `"`, `""`)+`")`).Scan(&data); err != nil || data {
			return data, err
		}
	}
	return false, nil
}

// checkKnown refuses a database that records versions the binary does not
// have (M4).
func (s *Store) checkKnown(ms []dbmate.Migration, applied []string) error {
	if unknown := unknownVersions(ms, applied); len(unknown) > 0 {
		newest := "none"
		if len(ms) > 0 {
			newest = ms[len(ms)-1].Version
		}
		return fmt.Errorf("resonance: open %q: %w: the database records migration(s) %s that this binary does not know (its newest is %s). "+
			"If they are an application's migrations, give them to resonance as well: Options.Migrations, or `--migrations DIR` (RESONANCE_MIGRATIONS) on the command line. "+
			"Otherwise it was migrated by a newer release: upgrade resonance, or restore a backup from before that migration. Nothing was changed",
			s.path, ErrSchemaMismatch, strings.Join(unknown, ", "), newest)
	}
	return nil
}

// applyMigration applies one migration inside its own BEGIN IMMEDIATE
// transaction on mc. Under the write lock it looks again at what is
// recorded, so a process that lost the race finds the work done and skips
// it (M2), and one that finds versions it does not know stops (M4); a
// failing statement rolls the whole migration back (M3).
//
// *recorded is the number of versions schema_migrations held when this
// process last read them all or added one. Versions are only ever added
// while migrating, so when the count is still that, no other process has
// recorded anything meanwhile and the versions need not be read again:
// reading them all for every migration made applying n migrations take
// time in n².
//
// While the migration's statements run, the connection's commit hook
// refuses every commit and its rollback hook notes every rollback, so a
// migration that ends the transaction it runs in (COMMIT, END or ROLLBACK
// among its statements, followed or not by a BEGIN of its own) is refused
// with nothing of it committed or recorded, without reading its text.
func (s *Store) applyMigration(ctx context.Context, mc *migrationConn, all []dbmate.Migration, m dbmate.Migration, recorded *int) (err error) {
	parsed, err := m.Parse()
	if err != nil {
		return fmt.Errorf("resonance: migration %s: %w", m.FileName, err)
	}
	if !parsed.UpOptions.Transaction() {
		return fmt.Errorf("resonance: migration %s: transaction:false is not supported: every migration runs in one transaction so that a failure changes nothing", m.FileName)
	}
	start := time.Now()
	conn := mc.conn
	defer func() {
		mc.guard = false
		if !mc.inTx() {
			return
		}
		if _, rerr := conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("resonance: migrate %q: rollback: %w", s.path, classify(rerr)))
		}
	}()
	mc.commitTried, mc.rolledBack = false, false
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("resonance: migrate %q: begin: %w", s.path, classify(err))
	}
	mc.guard = true
	if _, err := conn.ExecContext(ctx, createMigrationsDD); err != nil {
		return fmt.Errorf("resonance: migrate %q: %w", s.path, classify(err))
	}
	var count int
	var done bool
	if err := conn.QueryRowContext(ctx, `SELECT count(*), EXISTS (SELECT 1 FROM "schema_migrations" WHERE version = ?) FROM "schema_migrations"`,
		m.Version).Scan(&count, &done); err != nil {
		return fmt.Errorf("resonance: migrate %q: %w", s.path, classify(err))
	}
	if count != *recorded {
		applied, err := appliedVersions(ctx, conn)
		if err != nil {
			return fmt.Errorf("resonance: migrate %q: %w", s.path, classify(err))
		}
		if err := s.checkKnown(all, applied); err != nil {
			return err
		}
		*recorded = len(applied)
	}
	if done {
		return nil // another process applied it while we waited; the deferred rollback ends ours
	}
	_, err = conn.ExecContext(ctx, parsed.Up)
	switch {
	case mc.commitTried || mc.rolledBack && err == nil:
		return fmt.Errorf("resonance: migrate %q: migration %s ends the transaction it runs in (a COMMIT, END or ROLLBACK among its statements): %w: remove it; every migration runs in one transaction that resonance begins and commits, so that a failure changes nothing. Nothing of it was applied or recorded; the database is at its previous version",
			s.path, m.FileName, ErrInvalid)
	case err != nil:
		return fmt.Errorf("resonance: migrate %q: migration %s failed, database left at its previous version: %w", s.path, m.FileName, classify(err))
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO "schema_migrations" (version) VALUES (?)`, m.Version); err != nil {
		return fmt.Errorf("resonance: migrate %q: recording %s: %w", s.path, m.Version, classify(err))
	}
	mc.guard = false
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("resonance: migrate %q: commit %s: %w", s.path, m.FileName, classify(err))
	}
	*recorded++
	s.opts.Logger.Info("resonance: migration applied", "db", s.path, "file", m.FileName, "took", time.Since(start))
	return nil
}

// migrationConn is a connection of the writer's pool that migrations run
// on and that is closed after them, with the hooks that see a migration
// end its own transaction. The hooks run on the goroutine of the statement
// that fires them, the migration's.
type migrationConn struct {
	conn *sql.Conn
	raw  *classifiedConn
	// guard is set while a migration's statements run: the commit hook
	// then refuses every commit.
	guard       bool
	commitTried bool // a commit was refused while guarded
	rolledBack  bool // the transaction was rolled back while guarded
}

// newMigrationConn takes a connection from the writer's pool and sets its
// hooks. They replace the writer's own (and a ConnectHook's): the
// connection is never handed out again.
func (s *Store) newMigrationConn(ctx context.Context) (*migrationConn, error) {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: migrate %q: %w", s.path, classify(err))
	}
	mc := &migrationConn{conn: conn}
	_ = conn.Raw(func(dc any) error {
		mc.raw, _ = dc.(*classifiedConn)
		return nil
	})
	if mc.raw == nil {
		conn.Close()
		return nil, fmt.Errorf("resonance: migrate %q: the writer's connection is not one of the connector's", s.path)
	}
	// Non-zero turns the commit into a rollback; the statement fails with
	// SQLITE_CONSTRAINT_COMMITHOOK.
	mc.raw.RegisterCommitHook(func() int {
		if mc.guard {
			mc.commitTried = true
			return 1
		}
		return 0
	})
	mc.raw.RegisterRollbackHook(func() {
		if mc.guard {
			mc.rolledBack = true
		}
	})
	return mc, nil
}

// inTx reports whether the connection is inside a transaction.
func (mc *migrationConn) inTx() bool { return !mc.raw.AutoCommit() }

// leftOver reports whether the last migration left anything on the
// connection: an object in its temp schema, an attached database, or a
// PRAGMA that may have changed a setting. Errors count as left over.
func (mc *migrationConn) leftOver(ctx context.Context) bool {
	if mc.raw.settingSet {
		return true
	}
	var n int
	err := mc.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM temp.sqlite_schema) +
		(SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp'))`).Scan(&n)
	return err != nil || n > 0
}

// close closes the connection for good: returning driver.ErrBadConn from
// Raw makes database/sql close it instead of keeping it in the pool.
func (mc *migrationConn) close() {
	if mc == nil {
		return
	}
	_ = mc.conn.Raw(func(any) error { return driver.ErrBadConn })
	mc.conn.Close()
}

// preMigrationBackup writes a consistent copy of the database before it is
// migrated (M6) and keeps the newest BackupKeep copies.
func (s *Store) preMigrationBackup(ctx context.Context, version string) error {
	dir := s.opts.BackupDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(s.path), "backups")
	}
	if err := backupDirTrusted(dir, s.path); err != nil {
		return fmt.Errorf("resonance: pre-migration backup of %q: %w; nothing was migrated", s.path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resonance: pre-migration backup of %q: %w", s.path, err)
	}
	if err := backupDirTrusted(dir, s.path); err != nil {
		return fmt.Errorf("resonance: pre-migration backup of %q: %w; nothing was migrated", s.path, err)
	}
	base := strings.TrimSuffix(filepath.Base(s.path), filepath.Ext(s.path))
	name := fmt.Sprintf("%s-%s-v%s.db", base, time.Now().UTC().Format(backupStamp), version)
	dest := filepath.Join(dir, name)
	pattern := backupName(base)
	output.RemoveStaleTemps(dir, pattern) // of backups interrupted before this one
	if err := vacuumInto(ctx, s.writer, s.path, dest); err != nil {
		return fmt.Errorf("resonance: pre-migration backup of %q to %q: %w; nothing was migrated", s.path, dest, err)
	}
	s.opts.Logger.Info("resonance: pre-migration backup written", "db", s.path, "backup", dest)
	return pruneBackups(dir, regexp.MustCompile(`^(?:`+pattern+`)$`), s.opts.BackupKeep)
}

// backupDirTrusted refuses a backup directory dir for the database db
// that someone other than the database's owner (or root) could use to
// read, replace or delete its backups, the way back from a migration: a
// symbolic link owned by another user (in a shared sticky directory anyone
// may create "backups"), a directory owned by another user, or one every
// user may write without the sticky bit. A directory that does not exist
// yet passes: it is checked again once MkdirAll has made it.
func backupDirTrusted(dir, db string) error {
	dbInfo, err := os.Stat(db)
	if err != nil {
		return err
	}
	owner := fileOwner(dbInfo)
	trusted := func(uid uint32) bool { return uid == owner || uid == 0 }
	fix := fmt.Sprintf("remove it, or set Options.BackupDir to a directory of uid %d's", owner)
	if lfi, err := os.Lstat(dir); err == nil && lfi.Mode()&fs.ModeSymlink != 0 && !trusted(fileOwner(lfi)) {
		return fmt.Errorf("backup directory %q is a symbolic link owned by uid %d, not by the database's owner (uid %d) or root: that user could read, replace or delete the backups; %s", dir, fileOwner(lfi), owner, fix)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // MkdirAll makes it, or says why it cannot
		}
		return err
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("backup directory %q is a %s, not a directory: %s", dir, output.Kind(fi.Mode()), fix)
	case !trusted(fileOwner(fi)):
		return fmt.Errorf("backup directory %q is owned by uid %d, not by the database's owner (uid %d) or root: that user could read, replace or delete the backups; %s", dir, fileOwner(fi), owner, fix)
	case fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0:
		return fmt.Errorf("backup directory %q is writable by every user without the sticky bit: anyone could replace or delete the backups; chmod o-w %s, or set Options.BackupDir to a directory of uid %d's", dir, fsfix.Quote(dir), owner)
	}
	return nil
}

// fileOwner is the uid owning the file fi describes.
func fileOwner(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// backupStamp is the UTC time in a pre-migration backup's name: fixed
// width, so name order is age order.
const backupStamp = "20060102T150405.000000000Z"

// backupName returns a regular expression matching exactly the names of
// the pre-migration backups of a database whose file name without its
// extension is base: base, the time stamp and the version (digits, or
// "original" for an adopted database), nothing else,
// so that g.db's backups are never taken for those of g-1.db.
func backupName(base string) string {
	return regexp.QuoteMeta(base) + `-[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-v[0-9A-Za-z]+\.db`
}

// pruneBackups removes all but the newest keep files in dir whose names
// match name. Names carry a UTC timestamp, so name order is age order.
func pruneBackups(dir string, name *regexp.Regexp, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("resonance: pruning backups in %q: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && name.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return fmt.Errorf("resonance: pruning backups in %q: %w", dir, err)
		}
		names = names[1:]
	}
	return nil
}

// MigrationStatusOf reports every migration the binary knows (the embedded
// ones and o.Migrations) and every version the database at path records, in
// version order, without opening a store: nothing is applied, even when
// migrations are pending. It opens the file with the hardened connector,
// so a database still in rollback-journal mode is switched to WAL (C2).
func MigrationStatusOf(ctx context.Context, path string, o Options) ([]MigrationStatus, error) {
	o.ReadOnly, o.Create = true, false
	db, err := Connect(ctx, path, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ms, err := migrations(o.Migrations)
	if err != nil {
		return nil, err
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("resonance: migration status %q: %w", path, classify(err))
	}
	return migrationStatus(ms, applied), nil
}
