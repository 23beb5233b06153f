package conformance

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/schema"
)

// Result is the outcome of one check CheckDatabase ran.
type Result struct {
	Rule    string `json:"rule"`              // rule ID (RULES.md), e.g. "C4"
	OK      bool   `json:"ok"`                // the rule holds on this database
	Skipped bool   `json:"skipped,omitempty"` // the check could not run; Detail says why
	Detail  string `json:"detail"`            // what was checked and what was found
	Fix     string `json:"fix,omitempty"`     // what to do, when !OK
}

// Report is what CheckDatabase found, one Result per check, in the order
// they ran.
type Report struct {
	Path    string   `json:"path"`
	Results []Result `json:"results"`
}

// OK reports whether every check that ran passed.
func (r Report) OK() bool { return len(r.Failures()) == 0 }

// Failures returns the checks that ran and failed.
func (r Report) Failures() []Result {
	var out []Result
	for _, res := range r.Results {
		if !res.OK && !res.Skipped {
			out = append(out, res)
		}
	}
	return out
}

// connections is how many pooled connections CheckDatabase holds open at
// once to check that each of them is hardened.
const connections = 4

// CheckDatabase runs the non-destructive conformance checks on an existing
// database file, as `resonance doctor --conformance PATH` does:
//
//   - W1: file and directory permissions for the current user (CheckPermissions);
//   - C10: the file exists (nothing is created);
//   - C2: the file header says WAL;
//   - C1, C3–C8: several pooled connections held at once, opened read-only
//     through the library's connector, each carrying every setting, with
//     busy_timeout the first statement on each, and writes refused (C8);
//   - C9: the health check, whose write probe is skipped on the read-only
//     connections;
//   - M1, M4: dbmate's schema_migrations records only versions this binary
//     knows, and none is pending;
//   - O1: PRAGMA integrity_check; C6: PRAGMA foreign_key_check;
//   - W5: the size of -wal, for information.
//
// o carries what an application gives the library: its Migrations, known
// as the embedded ones are (A2), and its ConnectHook, run on each
// connection the checks open. ReadOnly is forced and Create ignored; the
// zero Options check a database of the library's schema alone.
//
// It writes nothing to the database: connections are query_only, and a file
// still in rollback-journal mode is examined through a plain read-only
// connection instead, because the connector would switch it to WAL. When the
// last connection closes, SQLite checkpoints the WAL as any reader would,
// which moves committed pages into the file and changes no content.
func CheckDatabase(ctx context.Context, path string, o resonance.Options) Report {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	r := &Report{Path: abs}

	findings := CheckPermissions(abs)
	if len(findings) == 0 {
		r.add(Result{Rule: "W1", OK: true, Detail: fmt.Sprintf("%s may write and search %s and read and write the database, -wal and -shm", currentUser(), filepath.Dir(abs))})
	}
	for _, f := range findings {
		r.add(Result{Rule: f.Rule, Detail: f.Path + ": " + f.Problem, Fix: f.Fix})
	}

	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.add(Result{Rule: "C10", Detail: fmt.Sprintf("%q does not exist; nothing was created", abs), Fix: "create it: resonance init --db " + quote(abs)})
		return *r
	case err != nil:
		r.add(Result{Rule: "C10", Detail: fmt.Sprintf("%q cannot be examined: %v", abs, err), Fix: "see the W1 findings"})
		return *r
	case fi.IsDir():
		r.add(Result{Rule: "C11", Detail: fmt.Sprintf("%q is a directory", abs), Fix: "name the database file inside it"})
		return *r
	}
	r.add(Result{Rule: "C10", OK: true, Detail: fmt.Sprintf("%q exists (%d bytes)", abs, fi.Size())})

	mode, err := headerMode(abs)
	if err != nil {
		r.add(Result{Rule: "O1", Detail: err.Error(), Fix: "point --db at a resonance database, or create one with resonance init"})
		return *r
	}
	if mode != "wal" {
		r.add(Result{Rule: "C2", Detail: "the file header says rollback-journal mode, not WAL: readers and the writer block each other",
			Fix: "open it once read-write with resonance (e.g. " + fsfix.Command("migrate up", abs, o.Migrations, o.ExternalCheckpoints) + "): the connector switches it to WAL"})
		r.add(Result{Rule: "C7", Skipped: true, Detail: "connection settings not checked: the connector would switch the file to WAL, and these checks change nothing"})
		db, err := sql.Open("sqlite3", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_busy_timeout=5000"}).String())
		if err != nil {
			r.add(Result{Rule: "O1", Detail: "cannot open the file read-only: " + err.Error()})
			return *r
		}
		defer db.Close()
		r.checkContent(ctx, db, o.Migrations, o.ExternalCheckpoints)
		return *r
	}
	r.add(Result{Rule: "C2", OK: true, Detail: "the file header says WAL"})

	tr := &tracer{}
	o.ReadOnly, o.Create, o.TraceConnect = true, false, tr.record
	db, err := resonance.Connect(ctx, abs, o)
	if errors.Is(err, resonance.ErrInvalid) && len(o.Migrations) > 0 {
		r.add(Result{Rule: "A1", Detail: err.Error(), Fix: "give each of the application's migrations a version of its own"})
		return *r
	}
	if err != nil {
		r.add(Result{Rule: "C7", Detail: "cannot open a hardened connection: " + err.Error(), Fix: "follow the advice in the error; see the W1 findings"})
		return *r
	}
	defer db.Close()
	r.checkConnections(ctx, db, tr)
	if h, err := resonance.CheckHealth(ctx, db); err != nil {
		r.add(Result{Rule: "C9", Detail: err.Error(), Fix: "every connection resonance opens is hardened; a setting that is off was changed by someone else's connection or build"})
	} else {
		r.add(Result{Rule: "C9", OK: true, Detail: fmt.Sprintf("healthy, mode %s, write probe %s", h.Settings["journal_mode"], h.WriteProbe)})
	}
	r.checkContent(ctx, db, o.Migrations, o.ExternalCheckpoints)
	walSize := int64(0)
	if fi, err := os.Stat(abs + "-wal"); err == nil {
		walSize = fi.Size()
	}
	r.add(Result{Rule: "W5", OK: true, Detail: fmt.Sprintf("-wal is %d bytes while this check holds the database open", walSize)})
	return *r
}

func (r *Report) add(res Result) { r.Results = append(r.Results, res) }

// headerMode reads the database header: "wal" when the file format bytes
// say WAL, "rollback" otherwise, or an error for a file that is no SQLite
// database.
func headerMode(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %v", path, err)
	}
	defer f.Close()
	var h [100]byte
	n, err := io.ReadFull(f, h[:])
	switch {
	case n == 0:
		return "", fmt.Errorf("%q is empty: no database was ever written to it", path)
	case err != nil || !bytes.HasPrefix(h[:], []byte("SQLite format 3\x00")):
		return "", fmt.Errorf("%q is not a SQLite database", path)
	case h[18] == 2 && h[19] == 2:
		return "wal", nil
	}
	return "rollback", nil
}

// connSettings are the per-connection settings of rules C1–C8 as a
// connection reports them.
type connSettings struct {
	BusyTimeout int64
	JournalMode string
	Synchronous int64
	MmapSize    int64
	TempStore   int64
	ForeignKeys int64
	QueryOnly   int64
}

type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func readSettings(ctx context.Context, q rowQuerier) (connSettings, error) {
	var s connSettings
	err := q.QueryRowContext(ctx, `SELECT (SELECT * FROM pragma_busy_timeout), (SELECT * FROM pragma_journal_mode),
		(SELECT * FROM pragma_synchronous), (SELECT * FROM pragma_temp_store),
		(SELECT * FROM pragma_foreign_keys), (SELECT * FROM pragma_query_only)`).Scan(
		&s.BusyTimeout, &s.JournalMode, &s.Synchronous, &s.TempStore, &s.ForeignKeys, &s.QueryOnly)
	if err == nil {
		err = q.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&s.MmapSize)
	}
	s.JournalMode = strings.ToLower(s.JournalMode)
	return s, err
}

// checkConnections holds several pooled connections open at once and checks
// the settings of each, and the order the connector applied them in.
func (r *Report) checkConnections(ctx context.Context, db *sql.DB, tr *tracer) {
	db.SetMaxOpenConns(connections)
	db.SetMaxIdleConns(connections)
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	bad := map[string][]string{}
	note := func(rule, format string, args ...any) { bad[rule] = append(bad[rule], fmt.Sprintf(format, args...)) }
	for i := range connections {
		c, err := db.Conn(ctx)
		if err != nil {
			r.add(Result{Rule: "C7", Detail: fmt.Sprintf("connection %d of %d: %v", i+1, connections, err), Fix: "follow the advice in the error"})
			return
		}
		conns = append(conns, c)
		s, err := readSettings(ctx, c)
		if err != nil {
			note("C7", "connection %d: reading settings: %v", i+1, err)
			continue
		}
		if s.BusyTimeout <= 0 {
			note("C1", "connection %d: busy_timeout %d ms", i+1, s.BusyTimeout)
		}
		if s.JournalMode != "wal" {
			note("C2", "connection %d: journal_mode %q", i+1, s.JournalMode)
		}
		if s.Synchronous != 1 {
			note("C3", "connection %d: synchronous %d, want 1 (NORMAL)", i+1, s.Synchronous)
		}
		if s.MmapSize != 0 {
			note("C4", "connection %d: mmap_size %d, want 0", i+1, s.MmapSize)
		}
		if s.TempStore != 2 {
			note("C5", "connection %d: temp_store %d, want 2 (MEMORY)", i+1, s.TempStore)
		}
		if s.ForeignKeys != 1 {
			note("C6", "connection %d: foreign_keys %d, want 1", i+1, s.ForeignKeys)
		}
		if s.QueryOnly != 1 {
			note("C8", "connection %d: query_only %d on a read-only connection, want 1", i+1, s.QueryOnly)
		}
		// A write to the connection's own temp schema changes nothing in
		// the file, and query_only must refuse it all the same.
		if _, err := c.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS _conformance_probe (x)`); err == nil {
			note("C8", "connection %d: a write on a read-only connection succeeded", i+1)
		} else if code, ok := sqliteCode(err); !ok || code != sqlite3.ErrReadonly {
			note("C8", "connection %d: a write on a read-only connection failed with %v, want SQLITE_READONLY", i+1, err)
		}
	}
	segs, lead := tr.segments()
	opened := openedConnections(db)
	switch {
	case lead != nil:
		note("C1", "statements ran before busy_timeout on a new connection: %q", lead)
	case len(segs) != opened:
		note("C1", "%d connections were opened but busy_timeout started only %d of them", opened, len(segs))
	}
	for i, seg := range segs {
		if slices.ContainsFunc(seg, func(s string) bool { return strings.HasPrefix(strings.ToLower(s), "pragma journal_mode =") }) {
			note("C2", "connection %d set journal_mode although the file is in WAL already (%q)", i+1, seg)
		}
	}
	for _, rule := range []string{"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"} {
		if len(bad[rule]) > 0 {
			r.add(Result{Rule: rule, Detail: strings.Join(bad[rule], "; "),
				Fix: "every connection resonance opens carries this setting; rebuild with an unmodified resonance, and do not change settings on its connections"})
			continue
		}
		detail := map[string]string{
			"C1": "busy_timeout is the first statement on each of %d connections, and set on each",
			"C2": "each of %d connections in WAL, none of them set it again",
			"C3": "synchronous NORMAL on each of %d connections",
			"C4": "mmap_size 0 on each of %d connections",
			"C5": "temp_store MEMORY on each of %d connections",
			"C6": "foreign_keys ON on each of %d connections",
			"C7": "%d connections held open at once, each hardened and read back",
			"C8": "each of %d read-only connections is query_only and refused a write",
		}[rule]
		r.add(Result{Rule: rule, OK: true, Detail: fmt.Sprintf(detail, connections)})
	}
}

func openedConnections(db *sql.DB) int {
	st := db.Stats()
	return st.OpenConnections + int(st.MaxIdleClosed+st.MaxIdleTimeClosed+st.MaxLifetimeClosed)
}

// migrationVersion matches dbmate's migration file names: VERSION_name.sql.
var migrationVersion = regexp.MustCompile(`^(\d+).*\.sql$`)

// knownVersions lists the versions of the migrations embedded in the
// binary and of the application's.
func knownVersions(app []fs.FS) ([]string, error) {
	var vs []string
	for _, fsys := range append([]fs.FS{schema.FS}, app...) {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if m := migrationVersion.FindStringSubmatch(e.Name()); m != nil && !e.IsDir() {
				vs = append(vs, m[1])
			}
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// checkContent checks the recorded schema version, integrity and foreign keys.
func (r *Report) checkContent(ctx context.Context, db *sql.DB, app []fs.FS, external bool) {
	known, err := knownVersions(app)
	if err != nil {
		r.add(Result{Rule: "M1", Detail: "reading the embedded migrations: " + err.Error()})
	}
	var hasTable bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`).Scan(&hasTable); err != nil {
		r.add(Result{Rule: "M1", Detail: "reading the schema: " + err.Error(), Fix: "see the O1 result"})
	} else if !hasTable {
		r.add(Result{Rule: "M1", Detail: "no schema_migrations table: the database was never migrated by resonance or dbmate",
			Fix: fsfix.Command("migrate up", r.Path, app, external) + " (it writes a backup first when the database holds data)"})
	} else {
		applied, err := column(ctx, db, `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			r.add(Result{Rule: "M1", Detail: "reading schema_migrations: " + err.Error()})
		} else {
			var unknown, pending []string
			for _, v := range applied {
				if !slices.Contains(known, v) {
					unknown = append(unknown, v)
				}
			}
			for _, v := range known {
				if !slices.Contains(applied, v) {
					pending = append(pending, v)
				}
			}
			if len(unknown) > 0 {
				r.add(Result{Rule: "M4", Detail: fmt.Sprintf("schema mismatch: the database records version(s) %s that this binary does not know (its newest is %s); resonance refuses to open it", strings.Join(unknown, ", "), last(known)),
					Fix: "if they are an application's migrations, pass their directory: --migrations DIR (or RESONANCE_MIGRATIONS; Options.Migrations in Go); otherwise upgrade resonance to the release that wrote it, or restore a backup from before that migration"})
			} else {
				r.add(Result{Rule: "M4", OK: true, Detail: fmt.Sprintf("every recorded version is known to this binary (newest %s)", last(applied))})
			}
			if len(pending) > 0 {
				r.add(Result{Rule: "M1", Detail: fmt.Sprintf("%d of %d migrations applied; pending: %s", len(known)-len(pending), len(known), strings.Join(pending, ", ")),
					Fix: fsfix.Command("migrate up", r.Path, app, external) + " (the next read-write open applies them too, after a backup)"})
			} else {
				r.add(Result{Rule: "M1", OK: true, Detail: fmt.Sprintf("all %d migrations applied and recorded in schema_migrations", len(known))})
			}
		}
	}

	if problems, err := column(ctx, db, `PRAGMA integrity_check(20)`); err != nil {
		r.add(Result{Rule: "O1", Detail: "integrity_check: " + err.Error(), Fix: "restore the newest good backup (backups/ beside the database)"})
	} else if len(problems) != 1 || problems[0] != "ok" {
		r.add(Result{Rule: "O1", Detail: "integrity_check: " + strings.Join(problems, "; "),
			Fix: "restore the newest good backup (backups/ beside the database); the sqlite3 shell's .recover salvages what it can"})
	} else {
		r.add(Result{Rule: "O1", OK: true, Detail: "integrity_check: ok"})
	}

	rows, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		r.add(Result{Rule: "C6", Detail: "foreign_key_check: " + err.Error()})
		return
	}
	defer rows.Close()
	var violations []string
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			r.add(Result{Rule: "C6", Detail: "foreign_key_check: " + err.Error()})
			return
		}
		if len(violations) < 20 {
			violations = append(violations, fmt.Sprintf("%s rowid %d refers to a missing %s row", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		r.add(Result{Rule: "C6", Detail: "foreign_key_check: " + err.Error()})
	} else if len(violations) > 0 {
		r.add(Result{Rule: "C6", Detail: "foreign_key_check: " + strings.Join(violations, "; "),
			Fix: "the rows were written by a connection without foreign_keys = ON: delete or repair them"})
	} else {
		r.add(Result{Rule: "C6", OK: true, Detail: "foreign_key_check: no violations"})
	}
}

func column(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func last(vs []string) string {
	if len(vs) == 0 {
		return "none"
	}
	return vs[len(vs)-1]
}

func sqliteCode(err error) (sqlite3.ErrNo, bool) {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return se.Code, true
}

// tracer records the statements the connector runs on new connections
// (Options.TraceConnect).
type tracer struct {
	mu    sync.Mutex
	stmts []string
}

func (t *tracer) record(stmt string) {
	t.mu.Lock()
	t.stmts = append(t.stmts, stmt)
	t.mu.Unlock()
}

// segments splits the trace into one list per connection, each starting
// with its busy_timeout statement. lead holds the statements seen before the
// first busy_timeout: none when busy_timeout is first on every connection.
func (t *tracer) segments() (segs [][]string, lead []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.stmts {
		if strings.HasPrefix(strings.ToLower(s), "pragma busy_timeout") {
			segs = append(segs, []string{s})
			continue
		}
		if len(segs) == 0 {
			lead = append(lead, s)
			continue
		}
		segs[len(segs)-1] = append(segs[len(segs)-1], s)
	}
	return segs, lead
}
