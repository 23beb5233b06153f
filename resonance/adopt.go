package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
)

// Adoption of databases made by the original (X1, X2).
//
// The original (TypeScript on Bun) created its tables with three drizzle
// migrations and recorded them in __drizzle_migrations. Its tables carry
// the same names and columns as ours, with looser constraints: nullable
// type, domain, layer, confidence, veracity, sidecar_created and timestamp,
// and an ordinary rowid edges table. A read-write open recognises such a
// file by its exact shape, writes a backup (M6) and converts it in one
// IMMEDIATE transaction:
//
//  1. the original's two edge indexes and its _health probe table are
//     dropped (an index holds no data of its own; _health holds probe
//     stamps only), and nodes, edges, ember_state and history are renamed
//     out of the way;
//  2. the library's migrations up to originalVersion create this schema's
//     tables and every row is copied over, ids and history ids included. A
//     NULL where this schema says NOT NULL gets the value documented at
//     adoptedType and below; history's AUTOINCREMENT counter keeps its
//     value, so no id is ever reused. The renamed tables and
//     __drizzle_migrations are dropped;
//  3. the library's later migrations run, and all of them are recorded in
//     schema_migrations, so dbmate and the library agree; an application's
//     own migrations follow as on any database.
//
// Dropping __drizzle_migrations is deliberate: the file is then wholly this
// schema, and the original cannot take it for one of its own (its migrator
// stops at its first migration, because the tables exist) and write rows
// that break this schema's rules. The backup is the way back.
//
// The row counts are compared before the commit: every row of the four
// tables is accounted for, or nothing changes. Tables of other programs in
// the same file are left as they are. A crash at any point leaves the file
// as it was: the conversion is one transaction.
//
// Processes that open the file at the same moment each write a backup (the
// schema is examined before the backup and again under the write lock);
// one converts, the others find it converted and change nothing.

// NULLs the conversion fills, in columns this schema declares NOT NULL.
const (
	// adoptedType is the type of a node whose type is NULL: the text the
	// original itself stores for a node inserted without a type.
	adoptedType = "undefined"
	// adoptedTimestamp is the timestamp of a history row whose timestamp is
	// NULL: the Unix epoch, a time no real row has.
	adoptedTimestamp = "1970-01-01 00:00:00"
	// NULL domain and layer get "knowledge" and "experience" (D1), NULL
	// confidence and veracity 1 (D3), NULL sidecar_created 0 (not created).
)

// originalVersion is the library migration after which this schema has the
// tables the original's three migrations built (the graph, history,
// nodes.summary). The conversion copies the rows right after it, before the
// library's later migrations.
const originalVersion = "20240101000200"

// originalColumn is one column of the original's schema, as PRAGMA
// table_info reports it.
type originalColumn struct {
	name, typ string
	notNull   bool
	pk        int  // position in the primary key; 0: not part of it
	rowid     bool // INTEGER PRIMARY KEY: NOT NULL may be declared or not
}

type originalTable struct {
	name string
	cols []originalColumn
}

// originalSchema is the original's schema, table by table.
var originalSchema = []originalTable{
	{"nodes", []originalColumn{
		{name: "id", typ: "text", notNull: true, pk: 1},
		{name: "type", typ: "text"}, {name: "title", typ: "text"}, {name: "domain", typ: "text"}, {name: "layer", typ: "text"},
		{name: "embedding", typ: "blob"}, {name: "hash", typ: "text"}, {name: "meta", typ: "text"}, {name: "date", typ: "text"},
		{name: "summary", typ: "text"},
	}},
	{"edges", []originalColumn{
		{name: "source", typ: "text", notNull: true, pk: 1},
		{name: "target", typ: "text", notNull: true, pk: 2},
		{name: "type", typ: "text", notNull: true, pk: 3},
		{name: "confidence", typ: "real"}, {name: "veracity", typ: "real"}, {name: "context_source", typ: "text"},
	}},
	{"ember_state", []originalColumn{
		{name: "file_path", typ: "text", notNull: true, pk: 1},
		{name: "last_analyzed", typ: "text"}, {name: "sidecar_created", typ: "integer"}, {name: "confidence", typ: "real"},
	}},
	{"history", []originalColumn{
		{name: "id", typ: "integer", notNull: true, pk: 1, rowid: true},
		{name: "entity_type", typ: "text", notNull: true}, {name: "entity_id", typ: "text", notNull: true},
		{name: "action", typ: "text", notNull: true},
		{name: "old_value", typ: "text"}, {name: "new_value", typ: "text"}, {name: "timestamp", typ: "text"},
	}},
	{"__drizzle_migrations", []originalColumn{
		{name: "id", typ: "serial", pk: 1}, {name: "hash", typ: "text", notNull: true}, {name: "created_at", typ: "numeric"},
	}},
}

// originalIndexes are the indexes the original creates besides SQLite's own.
var originalIndexes = []string{"idx_edges_source", "idx_edges_target"}

// Original describes a database made by the original, as InspectOriginal
// finds it: what adoption will keep and what it will fill in.
type Original struct {
	// Rows counts the rows of the original's tables, keyed "nodes",
	// "edges", "history", "ember_state" and "__drizzle_migrations".
	Rows map[string]int64 `json:"rows"`

	// Fills counts the NULLs in columns this schema declares NOT NULL,
	// keyed "table.column"; each gets a value: nodes.type "undefined",
	// nodes.domain "knowledge", nodes.layer "experience", edges.confidence
	// and edges.veracity 1, ember_state.sidecar_created 0,
	// history.timestamp "1970-01-01 00:00:00". A column without NULLs is
	// absent.
	Fills map[string]int64 `json:"fills,omitempty"`

	// OtherTables are tables of other programs, kept as they are.
	OtherTables []string `json:"other_tables,omitempty"`
	// Versions are the library migrations the conversion applies and
	// records, in order.
	Versions []string `json:"versions"`
}

// InspectOriginal reports whether the database at path was made by the
// original, without changing it: (nil, nil) when it was not, a description
// of what adoption will do when it was. A database that looks like the
// original's but differs from it (a missing or extra column, another type,
// a trigger) gets an error wrapping ErrSchemaMismatch that names every
// difference (X2).
func InspectOriginal(ctx context.Context, path string, o Options) (*Original, error) {
	o.ReadOnly, o.Create = true, false
	db, err := Connect(ctx, path, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return findOriginalIn(ctx, db, path)
}

// findOriginalIn is findOriginal on one snapshot of the database behind
// db: the recorded migrations and the tables must be read together, or a
// process migrating a fresh file at the same moment could show its first
// tables beside a check of the records made before they existed, and the file
// would look like a lookalike of the original's. On a reader (a deferred
// transaction) it takes no write lock: opening a database never waits for
// another process's writer (C2).
func findOriginalIn(ctx context.Context, db *sql.DB, path string) (*Original, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrapAdopt(path, err)
	}
	defer tx.Rollback() // it only reads
	return findOriginal(ctx, tx, path)
}

// findOriginal examines the schema through q; see InspectOriginal.
func findOriginal(ctx context.Context, q querier, path string) (*Original, error) {
	applied, err := appliedVersions(ctx, q)
	if err != nil || len(applied) > 0 {
		return nil, wrapAdopt(path, err)
	}
	objects, err := schemaObjects(ctx, q)
	if err != nil {
		return nil, wrapAdopt(path, err)
	}
	found := false
	for _, t := range originalSchema {
		if objects.has("table", t.name) {
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	var diffs []string
	for _, t := range originalSchema {
		if !objects.has("table", t.name) {
			diffs = append(diffs, fmt.Sprintf("table %s is missing", t.name))
			continue
		}
		d, err := tableDiffs(ctx, q, t.name, t.cols)
		if err != nil {
			return nil, wrapAdopt(path, err)
		}
		diffs = append(diffs, d...)
	}
	var others []string
	for _, o := range objects {
		switch {
		case o.kind == "table" && !isOriginalTable(o.name) && o.name != "_health" && o.name != "schema_migrations":
			others = append(others, o.name)
		case o.kind == "view" || o.kind == "trigger":
			diffs = append(diffs, fmt.Sprintf("%s %s is not the original's", o.kind, o.name))
		}
	}
	extra, err := extraIndexes(ctx, q)
	if err != nil {
		return nil, wrapAdopt(path, err)
	}
	for _, ix := range extra {
		diffs = append(diffs, fmt.Sprintf("index %s is not the original's", ix))
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return nil, fmt.Errorf("resonance: adopt %q: %w: it has the tables of a database made by the original, but differs from it: %s; "+
			"only the original's exact schema is converted, and nothing was changed: undo the difference (or restore the original's file) and open it again",
			path, ErrSchemaMismatch, strings.Join(diffs, "; "))
	}
	slices.Sort(others)
	org := &Original{OtherTables: others}
	var nodes, edges, emberState, history, drizzle int64
	var nullType, nullDomain, nullLayer, nullConfidence, nullVeracity, nullSidecar, nullTimestamp int64
	for _, c := range []struct {
		query string
		dest  []any
	}{
		{`SELECT count(*), count(*) - count(type), count(*) - count(domain), count(*) - count(layer) FROM nodes`,
			[]any{&nodes, &nullType, &nullDomain, &nullLayer}},
		{`SELECT count(*), count(*) - count(confidence), count(*) - count(veracity) FROM edges`,
			[]any{&edges, &nullConfidence, &nullVeracity}},
		{`SELECT count(*), count(*) - count(sidecar_created) FROM ember_state`, []any{&emberState, &nullSidecar}},
		{`SELECT count(*), count(*) - count(timestamp) FROM history`, []any{&history, &nullTimestamp}},
		{`SELECT count(*) FROM "__drizzle_migrations"`, []any{&drizzle}},
	} {
		if err := q.QueryRowContext(ctx, c.query).Scan(c.dest...); err != nil {
			return nil, wrapAdopt(path, err)
		}
	}
	org.Rows = map[string]int64{"nodes": nodes, "edges": edges, "history": history, "ember_state": emberState, "__drizzle_migrations": drizzle}
	for col, n := range map[string]int64{"nodes.type": nullType, "nodes.domain": nullDomain, "nodes.layer": nullLayer,
		"edges.confidence": nullConfidence, "edges.veracity": nullVeracity,
		"ember_state.sidecar_created": nullSidecar, "history.timestamp": nullTimestamp} {
		if n > 0 {
			if org.Fills == nil {
				org.Fills = map[string]int64{}
			}
			org.Fills[col] = n
		}
	}
	ms, err := migrations(nil)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		org.Versions = append(org.Versions, m.Version)
	}
	return org, nil
}

func wrapAdopt(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("resonance: adopt %q: reading the schema: %w", path, classify(err))
}

func isOriginalTable(name string) bool {
	return slices.ContainsFunc(originalSchema, func(t originalTable) bool { return t.name == name })
}

// schemaObject is one table, view or trigger by kind and name: triggers
// have a namespace of their own, so a trigger may share its name with a
// table, and both must be seen (X2).
type schemaObject struct{ kind, name string }

type schemaObjectList []schemaObject

func (l schemaObjectList) has(kind, name string) bool {
	return slices.Contains(l, schemaObject{kind, name})
}

// schemaObjects lists every table, view and trigger that is not SQLite's
// own.
func schemaObjects(ctx context.Context, q querier) (schemaObjectList, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, name FROM sqlite_master
		WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var objects schemaObjectList
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.kind, &o.name); err != nil {
			return nil, err
		}
		objects = append(objects, o)
	}
	return objects, rows.Err()
}

// tableDiffs compares the columns of table with want, and its kind: the
// original's tables are rowid tables. table_xinfo, unlike table_info,
// lists generated columns too; the original has none.
func tableDiffs(ctx context.Context, q querier, table string, want []originalColumn) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_xinfo(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var got []originalColumn
	for rows.Next() {
		var c originalColumn
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.pk); err != nil {
			return nil, err
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var diffs []string
	for _, w := range want {
		i := slices.IndexFunc(got, func(c originalColumn) bool { return strings.EqualFold(c.name, w.name) })
		if i < 0 {
			diffs = append(diffs, fmt.Sprintf("%s has no column %s", table, w.name))
			continue
		}
		g := got[i]
		if !strings.EqualFold(g.typ, w.typ) {
			diffs = append(diffs, fmt.Sprintf("%s.%s is %q where the original's is %q", table, w.name, g.typ, w.typ))
		}
		if g.notNull != w.notNull && !w.rowid {
			diffs = append(diffs, fmt.Sprintf("%s.%s is %s where the original's is %s", table, w.name, nullability(g.notNull), nullability(w.notNull)))
		}
		if g.pk != w.pk {
			diffs = append(diffs, fmt.Sprintf("%s.%s is at position %d of the primary key where the original's is at %d (0: not in it)", table, w.name, g.pk, w.pk))
		}
	}
	// The original's tables are rowid tables; the copy walks their rowids.
	var withoutRowid bool
	if err := q.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list(?) WHERE schema = 'main'`, table).Scan(&withoutRowid); err != nil {
		return nil, err
	}
	if withoutRowid {
		diffs = append(diffs, fmt.Sprintf("%s is a WITHOUT ROWID table where the original's is not", table))
	}
	for _, g := range got {
		if !slices.ContainsFunc(want, func(w originalColumn) bool { return strings.EqualFold(g.name, w.name) }) {
			diffs = append(diffs, fmt.Sprintf("%s has a column %s that the original's has not", table, g.name))
		}
	}
	return diffs, nil
}

func nullability(notNull bool) string {
	if notNull {
		return "NOT NULL"
	}
	return "nullable"
}

// extraIndexes lists the indexes on the original's tables that the original
// does not create (SQLite's own automatic indexes aside).
func extraIndexes(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var extra []string
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			return nil, err
		}
		if isOriginalTable(table) && !slices.Contains(originalIndexes, name) {
			extra = append(extra, name)
		}
	}
	return extra, rows.Err()
}

// adoptOriginal converts a database made by the original before the
// migrations run (X1); it does nothing to any other database. A read-only
// store refuses it, naming the command that converts it (X2).
func (s *Store) adoptOriginal(ctx context.Context) error {
	org, err := findOriginalIn(ctx, s.readers, s.path)
	if err != nil || org == nil {
		return err
	}
	if s.opts.ReadOnly {
		return fmt.Errorf("resonance: open %q: %w: the database was made by the original (%d nodes, %d edges) and is not converted yet; "+
			"a read-only open never converts it: run `resonance migrate up --db %s` once (it writes a backup first)", s.path, ErrSchemaMismatch, org.Rows["nodes"], org.Rows["edges"], s.path)
	}
	if s.opts.BackupKeep > 0 {
		if err := s.preMigrationBackup(ctx, "original"); err != nil {
			return err
		}
	}
	return s.convertOriginal(ctx)
}

// convertOriginal runs the conversion in one IMMEDIATE transaction. It
// examines the schema again under the write lock: another process may have
// converted the file meanwhile, and then there is nothing to do.
//
// The conversion sets the original's tables aside, runs the library's
// embedded migrations in the same transaction, copying the original's rows
// in at originalVersion, and records every migration as applied: the file
// is either the original's as it was or converted and up to date with the
// library's migrations. An application's migrations follow in migrate, each
// in its own transaction.
func (s *Store) convertOriginal(ctx context.Context) (err error) {
	start := time.Now()
	ms, parsed, err := parsedLibraryMigrations()
	if err != nil {
		return err
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("resonance: adopt %q: %w", s.path, classify(err))
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("resonance: adopt %q: begin: %w", s.path, classify(err))
	}
	defer func() {
		// Rolled back on every way out but a commit (after which Rollback
		// does nothing), a panic of the progress func included: until the
		// transaction ends, conn.Close waits for it. After a full disk or
		// an I/O error SQLite may have rolled the transaction back itself,
		// and a failed Commit has ended it: a rollback error then says
		// nothing about the file.
		open := sqliteInTx(conn)
		if rerr := tx.Rollback(); err != nil && rerr != nil && open && !errors.Is(rerr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("resonance: adopt %q: rollback: %w", s.path, rerr))
		}
	}()
	org, err := findOriginal(ctx, tx, s.path)
	if err != nil {
		return err
	}
	if org == nil {
		return tx.Commit() // converted by another process while we waited
	}
	exec := func(step, query string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, fmt.Errorf("resonance: adopt %q: %s: %w; nothing was changed", s.path, step, classify(err))
		}
		return res.RowsAffected()
	}
	var seq int64 // history's AUTOINCREMENT counter
	if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'history'), 0)`).Scan(&seq); err != nil {
		return fmt.Errorf("resonance: adopt %q: reading history's counter: %w", s.path, classify(err))
	}
	if err := setOriginalAside(exec); err != nil {
		return err
	}
	copyRows := func() error { return copyOriginalRows(ctx, tx, exec, s.path, org, seq) }
	if err := migrateOriginal(exec, s.path, ms, parsed, copyRows); err != nil {
		return err
	}
	if err := recordMigrations(exec, ms); err != nil {
		return err
	}
	// Every write is done; the commit alone remains. A crash before it
	// leaves the original's file as it was.
	s.opts.Logger.Info("resonance: adopting the original's database: rows copied, committing", "db", s.path,
		"nodes", org.Rows["nodes"], "edges", org.Rows["edges"], "history", org.Rows["history"], "ember_state", org.Rows["ember_state"])
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resonance: adopt %q: commit: %w; nothing was changed", s.path, classify(err))
	}
	s.warnConverted(len(ms), time.Since(start))
	return nil
}

// adoptExec runs one statement of the conversion; step names it in the
// error.
type adoptExec func(step, query string, args ...any) (int64, error)

// parsedLibraryMigrations returns the library's embedded migrations and
// their parsed statements, which the conversion runs itself.
func parsedLibraryMigrations() ([]dbmate.Migration, []*dbmate.ParsedMigration, error) {
	ms, err := migrations(nil)
	if err != nil {
		return nil, nil, err
	}
	parsed := make([]*dbmate.ParsedMigration, len(ms))
	for i, m := range ms {
		if parsed[i], err = m.Parse(); err != nil {
			return nil, nil, fmt.Errorf("resonance: migration %s: %w", m.FileName, err)
		}
	}
	return ms, parsed, nil
}

// setOriginalAside renames the original's tables out of the way of the
// library's and drops its indexes and its _health table, which the
// migrations make again.
func setOriginalAside(exec adoptExec) error {
	for _, q := range []string{
		`DROP INDEX IF EXISTS idx_edges_source`, `DROP INDEX IF EXISTS idx_edges_target`, `DROP TABLE IF EXISTS _health`,
		`ALTER TABLE nodes RENAME TO _original_nodes`, `ALTER TABLE edges RENAME TO _original_edges`,
		`ALTER TABLE ember_state RENAME TO _original_ember_state`, `ALTER TABLE history RENAME TO _original_history`,
	} {
		if _, err := exec("setting the original's tables aside", q); err != nil {
			return err
		}
	}
	return nil
}

// migrateOriginal runs every library migration and, right after
// originalVersion, the first whose tables the original's rows fit, copies
// them in (copyRows). path names the database in errors.
func migrateOriginal(exec adoptExec, path string, ms []dbmate.Migration, parsed []*dbmate.ParsedMigration, copyRows func() error) error {
	copied := false
	for i, m := range ms {
		if _, err := exec("migration "+m.FileName, parsed[i].Up); err != nil {
			return err
		}
		if m.Version == originalVersion {
			if err := copyRows(); err != nil {
				return err
			}
			copied = true
		}
	}
	if !copied {
		return fmt.Errorf("resonance: adopt %q: the embedded migrations lack version %s", path, originalVersion)
	}
	return nil
}

// recordMigrations creates dbmate's schema_migrations and records every
// library migration in it, as applied by the conversion.
func recordMigrations(exec adoptExec, ms []dbmate.Migration) error {
	if _, err := exec("recording the migrations", createMigrationsDD); err != nil {
		return err
	}
	for _, m := range ms {
		if _, err := exec("recording the migrations", `INSERT INTO "schema_migrations" (version) VALUES (?)`, m.Version); err != nil {
			return err
		}
	}
	return nil
}

// warnConverted says that the file was converted. A warning, so that every
// command that converted the file says so (the CLI prints warnings), not
// only migrate up: the original cannot open the file any more, and the
// backup is the way back.
func (s *Store) warnConverted(versions int, took time.Duration) {
	backups := s.opts.BackupDir
	if backups == "" {
		backups = filepath.Join(filepath.Dir(s.path), "backups")
	}
	s.opts.Logger.Warn("resonance: converted the database made by the original to this schema; the original cannot open it any more; its backup is in "+backups,
		"db", s.path, "versions", versions, "took", took)
}

// sqliteInTx reports whether the SQLite connection behind conn is inside a
// transaction (not in autocommit mode).
func sqliteInTx(conn *sql.Conn) bool {
	inside := true
	_ = conn.Raw(func(dc any) error {
		if c, ok := dc.(*classifiedConn); ok {
			inside = !c.AutoCommit()
		}
		return nil
	})
	return inside
}
