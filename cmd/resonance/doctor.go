package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/resonance"
)

const doctorHelp = "Diagnose the database for the current user: exit 1 naming each problem and its fix, 0 when healthy.\n\n" +
	"It first looks at the files without opening them (W1): write and search permission on the\n" +
	"directory (SQLite creates and removes -wal and -shm there, readers too), read and write on the\n" +
	"database, -shm and -wal, and files or a directory that any user may write; a file system\n" +
	"mounted read-only; the free space of the file system (O6: it fails under 1 MiB, and warns under\n" +
	"64 MiB or under the size of the database and its -wal); processes that still have a deleted\n" +
	"database, -wal or -shm open (from /proc; it then does not open the database). Then, if the file\n" +
	"can be read, it opens it read-only (nothing is written, no migration applied) and checks the\n" +
	"schema version (M1, M4), the connection settings (C1-C9), integrity_check (O1), the page and\n" +
	"free-list counts, and the size of -wal (W5); a database that cannot be opened because it is\n" +
	"truncated is named as such (O1). PATH, when given, replaces --db.\n\n" +
	"--conformance runs the conformance package's non-destructive checks on the file instead:\n" +
	"several pooled connections held at once, each setting read back, busy_timeout first, writes\n" +
	"refused on read-only connections, schema, integrity and foreign keys."

func doctorFlags(fs *flag.FlagSet) {
	fs.Bool("conformance", false, "run the conformance suite's non-destructive checks on the database")
	fs.Int64("wal-warn", 64<<20, "warn when -wal is larger than `BYTES`")
}

// check is one line of the doctor's report.
type check struct {
	Rule   string `json:"rule"`   // rule ID (RULES.md), e.g. "W1"
	Status string `json:"status"` // ok, warn, fail or skip
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

type doctorReport struct {
	DB     string  `json:"db"`
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

func (r *doctorReport) add(rule, status, detail, fix string) {
	r.Checks = append(r.Checks, check{Rule: rule, Status: status, Detail: detail, Fix: fix})
}

func runDoctor(e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 1 {
		return usagef("want at most one PATH (default --db)")
	}
	path := e.dbPath
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if strings.TrimSpace(path) == "" {
		return usagef("empty database path")
	}
	if w := fs.Lookup("wal-warn").Value.(flag.Getter).Get().(int64); w < 0 {
		return usagef("--wal-warn is %d: want 0 or more bytes", w)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	var r doctorReport
	if boolFlag(fs, "conformance") {
		r = conformanceReport(e.ctx, abs, e.options(resonance.Options{ExternalCheckpoints: e.external}))
	} else {
		r = diagnose(e.ctx, abs, e.options(resonance.Options{ExternalCheckpoints: e.external}), fs.Lookup("wal-warn").Value.(flag.Getter).Get().(int64))
	}
	r.OK = true
	for _, c := range r.Checks {
		if c.Status == "fail" {
			r.OK = false
		}
	}
	if e.json {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printDoctor(e, r)
	}
	if !r.OK {
		var n int
		for _, c := range r.Checks {
			if c.Status != "fail" {
				continue
			}
			n++
			if e.json { // stdout is JSON: say each problem on stderr
				fmt.Fprintf(e.stderr, "resonance: doctor %q: %s %s; fix: %s\n", r.DB, c.Rule, c.Detail, c.Fix)
			}
		}
		if !e.json {
			fmt.Fprintf(e.stderr, "resonance: doctor %q: %s, each listed above with its fix\n", r.DB, plural(int64(n), "problem"))
		}
		return checkFailed{errors.New("doctor found problems")}
	}
	return nil
}

// conformanceReport runs conformance.CheckDatabase and maps its results.
func conformanceReport(ctx context.Context, path string, o resonance.Options) doctorReport {
	cr := conformance.CheckDatabase(ctx, path, o)
	r := doctorReport{DB: cr.Path}
	for _, res := range cr.Results {
		status := "fail"
		switch {
		case res.Skipped:
			status = "skip"
		case res.OK:
			status = "ok"
		}
		r.add(res.Rule, status, res.Detail, res.Fix)
	}
	return r
}

// diagnose looks at the files first, then opens the database read-only if
// it can be read at all. o carries the application's migrations and
// --external-checkpoints. Each step adds its findings to the report; a
// step that finds the database cannot be looked at further ends it.
func diagnose(ctx context.Context, path string, o resonance.Options, walWarn int64) doctorReport {
	r := doctorReport{DB: path}
	filesCheck(&r, path)
	if !readable(&r, path) {
		return r
	}
	walCheck(&r, path, o, walWarn)
	if !followerCheck(&r, path) {
		replicationCheck(&r, path, o.ExternalCheckpoints)
	}
	if !schemaCurrent(ctx, &r, path, o) {
		return r
	}
	storeChecks(ctx, &r, path, o)
	return r
}

// filesCheck is W1 and O6: the permissions on the database, its -wal and
// -shm and its directory, and the free space beside them.
func filesCheck(r *doctorReport, path string) {
	dir := filepath.Dir(path)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		dir = filepath.Dir(real) // where SQLite keeps -wal and -shm
	}
	findings := conformance.CheckPermissions(path)
	if len(findings) == 0 {
		r.add("W1", "ok", fmt.Sprintf("uid %d may write and search %s and read and write the database, -wal and -shm", os.Geteuid(), dir), "")
	}
	for _, f := range findings {
		r.add(f.Rule, "fail", f.Path+": "+f.Problem, f.Fix)
	}
	if free, err := fsfix.FreeSpace(dir); err == nil {
		var used int64
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				used += fi.Size()
			}
		}
		status, detail, fix := spaceCheck(dir, free, used)
		r.add("O6", status, detail, fix)
	}
}

// readable reports whether the database may be opened: no process holds a
// deleted file of it, and it is a regular file this user can read. When
// not, it says why (C10).
func readable(r *doctorReport, path string) bool {
	if deletedChecks(r, path) {
		// Opening it now would create a new -shm beside the deleted one.
		r.add("C10", "skip", "the database was not opened: a process still has a deleted file of it open (see the permission check above)", "")
		return false
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() { // opening a named pipe would block
		r.add("C10", "skip", "the database was not opened: it does not exist or cannot be examined (see the permission check above)", "")
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		r.add("C10", "skip", fmt.Sprintf("the database was not opened: uid %d cannot read it (see the permission check above)", os.Geteuid()), "")
		return false
	}
	f.Close()
	return true
}

// walCheck is W5: the size of -wal against --wal-warn.
func walCheck(r *doctorReport, path string, o resonance.Options, walWarn int64) {
	external := o.ExternalCheckpoints
	wal, err := os.Stat(path + "-wal")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.add("W5", "ok", "no -wal file: no process has the database open, or the last one checkpointed it on close", "")
	case err != nil:
	case wal.Size() > walWarn:
		fix := fsfix.Command("checkpoint", path, o.Migrations, external) + "; look for readers that stay open for long"
		if external || litestreamTables(path) != nil {
			fix = "the database is replicated with external checkpoints: only Litestream checkpoints it; check that `litestream replicate` is running and keeping up (see README, Replication)"
		}
		r.add("W5", "warn", fmt.Sprintf("-wal is %s, over --wal-warn %s: checkpoints are not keeping up (a long-running reader blocks them, or checkpoints are left to a replicator that is stopped or behind)",
			humanBytes(wal.Size()), humanBytes(walWarn)), fix)
	default:
		r.add("W5", "ok", fmt.Sprintf("-wal is %s", humanBytes(wal.Size())), "")
	}
}

// schemaCurrent reports whether the schema is this binary's, applied up to
// date: not the original's (X1), nor a lookalike of it (X2), and the
// migrations in order (schemaChecks). When not, it says why and that the
// store was not opened.
func schemaCurrent(ctx context.Context, r *doctorReport, path string, o resonance.Options) bool {
	ms, err := resonance.MigrationStatusOf(ctx, path, o)
	if err != nil {
		openFailed(r, err, path, o)
		return false
	}
	if org, err := resonance.InspectOriginal(ctx, path, o); err != nil {
		r.add("X2", "fail", err.Error(), "make the file match the original's schema, or restore the original's own file; resonance converts nothing else")
		r.add("C9", "skip", "connection settings, integrity and stats not checked: the schema is not this project's (see above)", "")
		return false
	} else if org != nil {
		found, plan := originalReport(org, path)
		r.add("X1", "fail", found+"; not converted yet. `resonance migrate up` will: "+strings.Join(plan, "; "),
			fsfix.Command("migrate up", path, o.Migrations, o.ExternalCheckpoints)+" (take a copy of the file first if you want one beside the backup)")
		r.add("C9", "skip", "connection settings, integrity and stats not checked: the database is the original's until it is converted (see above)", "")
		return false
	}
	if !schemaChecks(r, ms, path, o) {
		r.add("C9", "skip", "connection settings, integrity and stats not checked: the schema is not current (see the schema check above)", "")
		return false
	}
	return true
}

// storeChecks opens a read-only store on the database and checks what
// needs it: the connection settings and the library's tables (C9), the
// pages and the integrity (O1), the stored embeddings (D9), and a clean
// close (O4).
func storeChecks(ctx context.Context, r *doctorReport, path string, o resonance.Options) {
	o.ReadOnly = true
	s, err := resonance.Open(ctx, path, o)
	if err != nil {
		openFailed(r, err, path, o)
		return
	}
	defer s.Close()
	if h, err := s.Health(ctx); err != nil {
		r.add("C9", "fail", err.Error(), "a setting that is off was changed by a modified build (every connection resonance opens is hardened); "+
			"a table, column, index or trigger of the library's that is missing was dropped or changed by a migration of the application's: undo that with another migration, or restore a backup from "+
			shellQuote(filepath.Join(filepath.Dir(path), "backups"))+"/")
	} else {
		r.add("C9", "ok", "connection settings: "+settingsLine(h), "")
	}
	pagesCheck(ctx, r, s, path, o)
	if integrityCheck(ctx, r, s, path) {
		embeddingsCheck(ctx, r, s, path)
	}
	if err := s.Close(); err != nil {
		r.add("O4", "fail", err.Error(), "")
	}
}

// pagesCheck is O1's page counts: a file more than a quarter free pages
// wants a vacuum.
func pagesCheck(ctx context.Context, r *doctorReport, s *resonance.Store, path string, o resonance.Options) {
	var pageSize, pages, free, autoVacuum int64
	err := s.ReadDB().QueryRowContext(ctx, `SELECT (SELECT page_size FROM pragma_page_size()), (SELECT page_count FROM pragma_page_count()),
		(SELECT freelist_count FROM pragma_freelist_count()), (SELECT auto_vacuum FROM pragma_auto_vacuum())`).Scan(&pageSize, &pages, &free, &autoVacuum)
	if err != nil {
		r.add("O1", "fail", "reading page counts: "+err.Error(), osFix(err, fsfix.DamagedFix(path)))
		return
	}
	detail := fmt.Sprintf("page_size %d, %d pages (%s), %d free, auto_vacuum %s", pageSize, pages, humanBytes(pages*pageSize), free,
		map[int64]string{0: "NONE", 1: "FULL", 2: "INCREMENTAL"}[autoVacuum])
	if pages > 100 && free*4 > pages {
		r.add("O1", "warn", detail+": more than a quarter of the file is free pages", fsfix.Command("vacuum", path, o.Migrations, o.ExternalCheckpoints))
	} else {
		r.add("O1", "ok", detail, "")
	}
}

// integrityCheck is O1's integrity_check; it reports whether it passed.
func integrityCheck(ctx context.Context, r *doctorReport, s *resonance.Store, path string) bool {
	problems, err := s.IntegrityCheck(ctx)
	switch {
	case err != nil:
		r.add("O1", "fail", "integrity_check could not run: "+err.Error(), osFix(err, "retry when no other process holds a long write transaction"))
	case len(problems) > 0:
		detail := fmt.Sprintf("integrity_check: %s: %s", plural(int64(len(problems)), "problem"), strings.Join(first(problems, 5), "; "))
		if p := fsfix.SizeProblem(path); p != "" {
			detail = p + "; " + detail
		}
		r.add("O1", "fail", detail, fsfix.DamagedFix(path))
	default:
		r.add("O1", "ok", "integrity_check: ok", "")
		return true
	}
	return false
}

// embeddingsCheck is D9 on the stored embeddings. It runs only on a
// database that passed integrity_check: reading the embeddings would fail
// on the damage.
func embeddingsCheck(ctx context.Context, r *doctorReport, s *resonance.Store, path string) {
	ids, bad, err := badEmbeddings(ctx, s)
	switch {
	case err != nil:
		r.add("D9", "fail", "reading the stored embeddings: "+err.Error(), osFix(err, "retry"))
	case len(bad) > 0:
		r.add("D9", "fail", fmt.Sprintf("%s with a stored embedding that is not a whole finite float32 vector (search skips them, export writes them without it): %s",
			plural(int64(len(bad)), "node"), strings.Join(bad, "; ")), embeddingFix(path, ids))
	default:
		r.add("D9", "ok", "every stored embedding is a whole finite float32 vector", "")
	}
}

// schemaChecks reports the migration state; it returns whether the schema
// is current (every known migration applied, none unknown).
func schemaChecks(r *doctorReport, ms []resonance.MigrationStatus, path string, o resonance.Options) bool {
	var unknown, pending []string
	newest := "none"
	for _, m := range ms {
		switch {
		case m.File == "":
			unknown = append(unknown, m.Version)
		case !m.Applied:
			pending = append(pending, m.Version)
		default:
			newest = m.Version
		}
	}
	if len(unknown) > 0 {
		r.add("M4", "fail", fmt.Sprintf("schema mismatch: the database records version(s) %s that this binary does not know", strings.Join(unknown, ", ")),
			migrationsHint()+"; otherwise upgrade resonance to the release that migrated it, or restore a backup from before; `resonance migrate status` lists the versions")
	}
	if len(pending) > 0 {
		r.add("M1", "fail", fmt.Sprintf("%s pending: %s (newest applied: %s)", plural(int64(len(pending)), "migration"), strings.Join(pending, ", "), newest),
			fsfix.Command("migrate up", path, o.Migrations, o.ExternalCheckpoints)+" (it writes a backup first when the database holds data)")
	}
	if len(unknown) == 0 && len(pending) == 0 {
		r.add("M1", "ok", fmt.Sprintf("schema version %s: all %d migrations applied", newest, len(ms)), "")
		return true
	}
	return false
}

// openFailed reports a database that cannot be opened: a truncated file
// as such (O1), anything else with the fix for its cause (C10).
func openFailed(r *doctorReport, err error, path string, o resonance.Options) {
	if p := fsfix.SizeProblem(path); p != "" {
		r.add("O1", "fail", p+": SQLite cannot open it", fsfix.DamagedFix(path))
		return
	}
	r.add("C10", "fail", "cannot open the database: "+err.Error(), openFix(err, path, o))
}

// openFix is the advice for a database that cannot be opened.
func openFix(err error, path string, o resonance.Options) string {
	switch {
	case osFix(err, "") != "":
		return osFix(err, "")
	case fsfix.NoSpace(err):
		return fsfix.NoSpaceFix(filepath.Dir(path))
	case errors.Is(err, resonance.ErrReadOnly):
		return "apply the fixes of the permission findings above (the error says which file or directory)"
	case errors.Is(err, resonance.ErrSchemaMismatch):
		return fsfix.Command("migrate status", path, o.Migrations, o.ExternalCheckpoints)
	case errors.Is(err, resonance.ErrBusy):
		return "another process holds a lock: find the long transaction (W8), or retry"
	}
	return "follow the advice in the error"
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}

func printDoctor(e *env, r doctorReport) {
	fmt.Fprintf(e.stdout, "database %s\n\n", r.DB)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s (%s)\n", strings.ToUpper(c.Status), c.Detail, c.Rule)
		if c.Fix != "" && c.Status != "ok" {
			fmt.Fprintf(tw, "\tfix: %s\n", c.Fix)
		}
	}
	tw.Flush()
	if r.OK {
		fmt.Fprintln(e.stdout, "\nno problems found")
	} else {
		fmt.Fprintln(e.stdout, "\nproblems found: apply the fixes above and run `resonance doctor` again")
	}
}

// litestreamTableNames are the tables Litestream adds to a database it
// replicates: _litestream_seq (a row it updates to force a write when it
// needs one) and _litestream_lock (written to hold the write lock around
// its checkpoints).
var litestreamTableNames = []string{"_litestream_lock", "_litestream_seq"}

// litestreamTables returns the Litestream tables present in the database
// at path, read through a read-only connection; nil when none or when the
// file cannot be read.
func litestreamTables(path string) []string {
	// ExternalCheckpoints: if this is the last connection to the file, it
	// leaves the WAL as it found it (R1).
	db, err := resonance.Connect(context.Background(), path, resonance.Options{ReadOnly: true, ExternalCheckpoints: true})
	if err != nil {
		return nil
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?) ORDER BY name`,
		litestreamTableNames[0], litestreamTableNames[1])
	if err != nil {
		return nil
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	return names
}

// replicationCheck reports whether Litestream replicates the database and
// whether this run uses external checkpoints (R1).
func replicationCheck(r *doctorReport, path string, external bool) {
	names := litestreamTables(path)
	mode := "without --external-checkpoints"
	if external {
		mode = "with --external-checkpoints"
	}
	switch {
	case len(names) == 0 && !external:
		r.add("R1", "ok", "not replicated by Litestream (no _litestream_seq or _litestream_lock table); resonance checkpoints the WAL itself", "")
	case len(names) == 0:
		r.add("R1", "ok", "run with --external-checkpoints, but no Litestream table is in the file: Litestream has not replicated this database yet, and nothing checkpoints its WAL until it does", "")
	case external:
		r.add("R1", "ok", fmt.Sprintf("replicated by Litestream (tables %s); this run uses external checkpoints, as every command under Litestream should", strings.Join(names, ", ")), "")
	default:
		r.add("R1", "warn", fmt.Sprintf("replicated by Litestream (tables %s), and this run is %s: resonance's own checkpoints copy little while Litestream runs and, while it is stopped, reset the WAL so that it takes a full snapshot on restart", strings.Join(names, ", "), mode),
			"run every resonance command on it with --external-checkpoints (or "+envExternal+"=1); see README, Replication")
	}
}

// followerCheck reports a database that `litestream restore -f` keeps as
// a follower of a replica, which resonance opens only read-only (R1), and
// returns whether it is one.
func followerCheck(r *doctorReport, path string) bool {
	txidFile, txid, ok := fsfix.LitestreamFollower(path)
	if !ok {
		return false
	}
	of := fmt.Sprintf("a Litestream replica (%s records transaction %s; no Litestream process has the file open now)", txidFile, txid)
	if pid, cmdline, ok := litestreamHolder(path); ok {
		of = fmt.Sprintf("a Litestream replica: `%s` (pid %d) keeps it, at transaction %s (%s)", cmdline, pid, txid, txidFile)
	}
	r.add("R1", "warn", "follower of "+of+": Litestream writes the replica's pages into the file, so resonance refuses to write to it and opens it read-only only",
		"read it with the read-only commands (stats, export, search, integrity, doctor); to make it a database of its own, stop `litestream restore -f` and remove "+shellQuote(txidFile))
	return true
}

// Free space below which doctor fails (the file system is full: SQLite
// cannot even append to -wal), and the floor under which it warns; it also
// warns when less is free than the database and its -wal take, which a
// checkpoint, a vacuum or a backup may need.
const (
	spaceFull = 1 << 20
	spaceWarn = 64 << 20
)

// spaceCheck judges free bytes on the file system holding dir, where the
// database and its -wal take used bytes.
func spaceCheck(dir string, free, used int64) (status, detail, fix string) {
	switch {
	case free < spaceFull:
		return "fail", fmt.Sprintf("the file system holding %s is full: %s free; writes, checkpoints and the -shm index fail", dir, humanBytes(free)), fsfix.NoSpaceFix(dir)
	case free < max(spaceWarn, used):
		return "warn", fmt.Sprintf("only %s free on the file system holding %s (the database and its -wal take %s): a checkpoint, vacuum or backup may fail", humanBytes(free), dir, humanBytes(used)), fsfix.NoSpaceFix(dir)
	}
	return "ok", fmt.Sprintf("%s free on the file system holding %s", humanBytes(free), dir), ""
}

// deletedChecks reports processes that still have the database, its -wal
// or its -shm open after the file was deleted: they and the processes
// that open the database from now on use different files, and do not see
// each other's writes or locks. It returns whether it found any.
func deletedChecks(r *doctorReport, path string) bool {
	found, hidden, ok := holdersOfDeleted(path)
	if !ok {
		return false
	}
	for _, h := range found {
		r.add("W1", "fail", fmt.Sprintf("process %d (%s) still has %s open, though it was deleted: processes that open the database now use a new file and do not see its locks or writes, which can lose or corrupt data", h.PID, h.Name, h.File),
			fmt.Sprintf("stop process %d (kill %d) before the database is used again, then run doctor again; never delete the database, -wal or -shm while a process has it open", h.PID, h.PID))
	}
	if len(found) == 0 {
		detail := "no process has a deleted database, -wal or -shm open"
		if hidden > 0 {
			detail += fmt.Sprintf(" (%s of other users could not be looked at: run doctor as root to see them)", plural(int64(hidden), "process"))
		}
		r.add("W1", "ok", detail, "")
	}
	return len(found) > 0
}
