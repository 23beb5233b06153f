package resonance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/internal/originaldb"
	"github.com/resonance-graph/resonancedb/resonance"
)

// snapshot returns every row of the original's four tables (originaldb.Dump).
func snapshot(t *testing.T, path string) map[string][]map[string]string {
	t.Helper()
	conn, err := resonance.Connect(t.Context(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, err := originaldb.Dump(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// adopted is what adoption documents for a row of the original: NULLs in
// columns this schema declares NOT NULL get their documented value, every
// other value stays as it was.
func adopted(table string, row map[string]string) map[string]string {
	fill := map[string]map[string]string{
		"nodes":       {"type": "'undefined'", "domain": "'knowledge'", "layer": "'experience'"},
		"edges":       {"confidence": "1.0", "veracity": "1.0"},
		"ember_state": {"sidecar_created": "0"},
		"history":     {"timestamp": "'1970-01-01 00:00:00'"},
	}[table]
	out := map[string]string{}
	for c, v := range row {
		if f, ok := fill[c]; ok && v == "NULL" {
			v = f
		}
		out[c] = v
	}
	return out
}

// checkAdopted compares every table of the database at path with what
// adoption documents for before, the original's rows (adopted); what
// names the adoption in the errors.
func checkAdopted(t *testing.T, before map[string][]map[string]string, path, what string) {
	t.Helper()
	after := snapshot(t, path)
	for _, tb := range originaldb.Tables {
		var want []map[string]string
		for _, row := range before[tb.Name] {
			want = append(want, adopted(tb.Name, row))
		}
		if diff := cmp.Diff(want, after[tb.Name]); diff != "" {
			t.Errorf("X1: %s after %s (-want +got):\n%s", tb.Name, what, diff)
		}
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func newOriginal(t *testing.T, o originaldb.Options) (string, originaldb.Counts) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "graph.db")
	c, err := originaldb.Create(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	return path, c
}

func TestOpen_AdoptsTheOriginalsDatabase(t *testing.T) {
	ctx := t.Context()
	path, counts := newOriginal(t, originaldb.Options{ExtraNodes: 20})
	before := snapshot(t, path)
	blobs := map[string][]byte{}
	{
		conn, err := resonance.Connect(ctx, path, resonance.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, `SELECT id, embedding FROM nodes`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var b []byte
			if err := rows.Scan(&id, &b); err != nil {
				t.Fatal(err)
			}
			blobs[id] = b
		}
		rows.Close()
		conn.Close()
	}
	if got := len(before["history"]); got != counts.History || len(before["nodes"]) != counts.Nodes || len(before["edges"]) != counts.Edges {
		t.Fatalf("fixture: %d nodes, %d edges, %d history rows read; built %+v", len(before["nodes"]), len(before["edges"]), got, counts)
	}

	s := openStoreAt(t, path, resonance.Options{})

	// Every row is there, with the documented values for the NULLs.
	checkAdopted(t, before, path, "adoption")

	// Every migration is recorded as applied.
	ms, err := resonance.MigrationStatusOf(ctx, s.Path(), resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !m.Applied || m.File == "" {
			t.Errorf("X1: migration %s after adoption: %+v, want applied", m.Version, m)
		}
	}

	// The schema is exactly a new database's, and the original's
	// bookkeeping and the renamed tables are gone.
	fresh := openStore(t, resonance.Options{})
	if diff := cmp.Diff(schemaOf(t, fresh.DB()), schemaOf(t, s.DB())); diff != "" {
		t.Errorf("X1: schema after adoption differs from a new database's (-new +adopted):\n%s", diff)
	}
	if problems, err := s.IntegrityCheck(ctx); err != nil || len(problems) > 0 {
		t.Errorf("X1: integrity_check after adoption: %v, %v", problems, err)
	}

	// GetNode returns each embedding bit for bit; the NULL-typed node is
	// readable.
	for id, blob := range blobs {
		n, err := s.Reads().GetNode(ctx, id)
		if err != nil {
			t.Fatalf("X1: GetNode(%q): %v", id, err)
		}
		if got := originaldb.Blob(n.Embedding); len(blob) > 0 && !bytes.Equal(got, blob) || len(blob) == 0 && n.Embedding != nil {
			t.Errorf("X1: GetNode(%q).Embedding is not the stored float32s bit for bit", id)
		}
	}
	if n, err := s.Reads().GetNode(ctx, originaldb.NodeNullType); err != nil || n.Type != "undefined" || n.Domain != "knowledge" || n.Layer != "experience" {
		t.Errorf("X1: GetNode(%q) = %+v, %v; want type undefined and the default domain and layer", originaldb.NodeNullType, n, err)
	}
	if out, err := s.Reads().OutgoingEdges(ctx, originaldb.NodeFull); err != nil || !slices.ContainsFunc(out, func(e resonance.Edge) bool { return e.Target == originaldb.MissingNode }) {
		t.Errorf("X1: OutgoingEdges(%q) = %v, %v; want the edge to the missing node", originaldb.NodeFull, out, err)
	}

	// The original's history rows read as they were written, the embedding
	// as an object of numbers.
	hs, err := db.New(s.ReadDB()).ListHistory(ctx, db.ListHistoryParams{EntityType: "node", EntityID: originaldb.NodeFull})
	if err != nil {
		t.Fatalf("X1: ListHistory: %v", err)
	}
	if len(hs) != 2 || !strings.Contains(hs[0].NewValue.String, `"embedding":{"0":0,"1":1.401298464324817e-45,`) || len(hs[0].NewValue.String) < 8000 {
		t.Fatalf("X1: the original's history of %q reads as %d rows, first %.120q…", originaldb.NodeFull, len(hs), hs[0].NewValue.String)
	}
	if hs[0].Timestamp.IsZero() || time.Since(hs[0].Timestamp) > time.Hour {
		t.Errorf("X1: the original's history timestamp reads as %v", hs[0].Timestamp)
	}
	hs, err = db.New(s.ReadDB()).ListHistory(ctx, db.ListHistoryParams{EntityType: "node", EntityID: originaldb.NodeConcept})
	if err != nil || len(hs) != 2 || !hs[1].Timestamp.Equal(time.Unix(0, 0)) {
		t.Errorf("X1: a history row without timestamp reads as %+v, %v; want the epoch", hs, err)
	}

	// The backup holds the original's file; new history rows never reuse
	// an id.
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "backups", "graph-*-voriginal.db"))
	if len(backups) != 1 {
		t.Fatalf("M6: backups of the original: %v, want one", backups)
	}
	if org, err := resonance.InspectOriginal(ctx, backups[0], resonance.Options{}); err != nil || org == nil || org.Rows["nodes"] != int64(counts.Nodes) {
		t.Errorf("M6: the backup %s is not the original's database: %+v, %v", backups[0], org, err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "after", Type: "note"})
	}); err != nil {
		t.Fatal(err)
	}
	var newest int64
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT max(id) FROM history`).Scan(&newest); err != nil || newest != int64(counts.History)+1 {
		t.Errorf("X1: the first history row after adoption has id %d (%v), want %d", newest, err, counts.History+1)
	}

	// A second open finds nothing to convert.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStoreAt(t, path, resonance.Options{})
	if org, err := resonance.InspectOriginal(ctx, path, resonance.Options{}); err != nil || org != nil {
		t.Errorf("InspectOriginal after adoption = %+v, %v; want nil, nil", org, err)
	}
	if n := countRows(t, s2.ReadDB(), "nodes"); n != counts.Nodes+1 {
		t.Errorf("nodes after reopening: %d, want %d", n, counts.Nodes+1)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// The original's migrator, pointed at the adopted file, creates its
	// bookkeeping table and fails on its first migration: the tables exist.
	// What it leaves behind changes nothing for resonance.
	conn, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(originaldb.DDL); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("the original's migrations on the adopted file: %v, want \"already exists\"", err)
	}
	tx.Rollback()
	conn.Close()
	openStoreAt(t, path, resonance.Options{})
}

// schemaOf lists the database's tables and indexes with their SQL.
func schemaOf(t *testing.T, q *sql.DB) []string {
	t.Helper()
	rows, err := q.Query(`SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master
		WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> '_health' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestInspectOriginal(t *testing.T) {
	ctx := t.Context()
	path, c := newOriginal(t, originaldb.Options{ExtraNodes: 3})
	org, err := resonance.InspectOriginal(ctx, path, resonance.Options{})
	if err != nil || org == nil {
		t.Fatalf("InspectOriginal = %+v, %v", org, err)
	}
	want := resonance.Original{
		Rows: map[string]int64{"nodes": int64(c.Nodes), "edges": int64(c.Edges), "history": int64(c.History),
			"ember_state": int64(c.EmberState), "__drizzle_migrations": int64(c.Drizzle)},
		Versions: org.Versions, Fills: map[string]int64{},
	}
	for col, n := range map[string]int{"nodes.type": c.NullType, "nodes.domain": c.NullDomain, "nodes.layer": c.NullLayer,
		"edges.confidence": c.NullConfidence, "edges.veracity": c.NullVeracity,
		"ember_state.sidecar_created": c.NullSidecar, "history.timestamp": c.NullTimestamp} {
		if n > 0 {
			want.Fills[col] = int64(n)
		}
	}
	if len(want.Fills) == 0 {
		t.Fatal("the original's database has no NULL to fill: the test would not see the counts")
	}
	if diff := cmp.Diff(want, *org); diff != "" {
		t.Errorf("InspectOriginal (-want +got):\n%s", diff)
	}
	if len(org.Versions) == 0 {
		t.Error("InspectOriginal: no versions to record")
	}
	fresh := openStore(t, resonance.Options{})
	if org, err := resonance.InspectOriginal(ctx, fresh.Path(), resonance.Options{}); err != nil || org != nil {
		t.Errorf("InspectOriginal(a resonance database) = %+v, %v; want nil, nil", org, err)
	}
}

func TestOpen_RefusesLookalikesOfTheOriginal(t *testing.T) {
	tests := []struct {
		name  string
		ddl   string // replaces the original's DDL when set
		alter string // run on the built database
		want  string // in the error
	}{
		{name: "MissingColumn", alter: `ALTER TABLE nodes DROP COLUMN summary`,
			want: "nodes has no column summary"},
		{name: "ExtraColumn", alter: `ALTER TABLE edges ADD COLUMN weight real`,
			want: "edges has a column weight that the original's has not"},
		{name: "OtherType", ddl: strings.Replace(originaldb.DDL, "`last_analyzed` text", "`last_analyzed` integer", 1),
			want: `ember_state.last_analyzed is "INTEGER" where the original's is "text"`},
		{name: "NotNull", ddl: strings.Replace(originaldb.DDL, "`type` text,", "`type` text NOT NULL DEFAULT 'undefined',", 1),
			want: "nodes.type is NOT NULL where the original's is nullable"},
		{name: "OtherKey", ddl: strings.Replace(originaldb.DDL, "PRIMARY KEY(`source`, `target`, `type`)", "PRIMARY KEY(`source`, `target`)", 1),
			want: "edges.type is at position 0 of the primary key where the original's is at 3"},
		{name: "NoDrizzleTable", alter: `DROP TABLE "__drizzle_migrations"`,
			want: "table __drizzle_migrations is missing"},
		{name: "ExtraIndex", alter: `CREATE INDEX nodes_domain ON nodes (domain)`,
			want: "index nodes_domain is not the original's"},
		{name: "Trigger", alter: `CREATE TRIGGER nodes_touch AFTER INSERT ON nodes BEGIN SELECT 1; END`,
			want: "trigger nodes_touch is not the original's"},
		// A trigger of another program, named like one of the original's
		// tables and created before it: trigger names are a namespace of
		// their own, so both objects are in sqlite_master under one name.
		{name: "TriggerNamedLikeATable", ddl: "CREATE TABLE other_app (a text);\n" +
			"CREATE TRIGGER nodes AFTER INSERT ON other_app BEGIN INSERT INTO history (entity_type, entity_id, action) VALUES ('other', new.a, 'insert'); END;\n" +
			originaldb.DDL,
			want: "trigger nodes is not the original's"},
		// The copy walks the original's rowids.
		{name: "WithoutRowid", ddl: strings.Replace(originaldb.DDL, "PRIMARY KEY(`source`, `target`, `type`)\n)", "PRIMARY KEY(`source`, `target`, `type`)\n) WITHOUT ROWID", 1),
			want: "edges is a WITHOUT ROWID table where the original's is not"},
		// A VIRTUAL generated column is hidden from pragma_table_info.
		{name: "GeneratedColumn", alter: `ALTER TABLE nodes ADD COLUMN title_length integer GENERATED ALWAYS AS (length(title)) VIRTUAL`,
			want: "nodes has a column title_length that the original's has not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			path, _ := newOriginal(t, originaldb.Options{DDL: tt.ddl})
			if tt.alter != "" {
				conn, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(tt.alter); err != nil {
					t.Fatal(err)
				}
				conn.Close()
			}
			hash := fileHash(t, path)
			_, err := resonance.Open(ctx, path, resonance.Options{})
			if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("X2: Open = %v; want ErrSchemaMismatch naming %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("X2: the error does not say that nothing changed: %v", err)
			}
			if _, ierr := resonance.InspectOriginal(ctx, path, resonance.Options{}); ierr == nil || ierr.Error() != err.Error() {
				t.Errorf("X2: InspectOriginal = %v; want the same refusal as Open", ierr)
			}
			if fileHash(t, path) != hash {
				t.Error("X2: the refused database file changed")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), "backups")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("X2: a refused database got a backup directory: %v", err)
			}
		})
	}
}

func TestOpen_ReadOnlyNeverAdopts(t *testing.T) {
	ctx := t.Context()
	path, c := newOriginal(t, originaldb.Options{})
	hash := fileHash(t, path)
	_, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true})
	if !errors.Is(err, resonance.ErrSchemaMismatch) || !strings.Contains(err.Error(), "resonance migrate up --db "+path) ||
		!strings.Contains(err.Error(), "made by the original") {
		t.Fatalf("X2: read-only Open = %v; want ErrSchemaMismatch saying it was made by the original and which command converts it", err)
	}
	if fileHash(t, path) != hash {
		t.Error("X2: a read-only open changed the original's file")
	}
	if org, err := resonance.InspectOriginal(ctx, path, resonance.Options{}); err != nil || org == nil || org.Rows["nodes"] != int64(c.Nodes) {
		t.Errorf("X2: after a read-only open, InspectOriginal = %+v, %v; want the original, unchanged", org, err)
	}
}

// TestOpen_AdoptsOnceAcrossOpeners opens the original's file from several
// stores at once: each open succeeds and the rows are converted once.
func TestOpen_AdoptsOnceAcrossOpeners(t *testing.T) {
	path, c := newOriginal(t, originaldb.Options{ExtraNodes: 10})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := resonance.Open(context.Background(), path, resonance.Options{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("X1: concurrent opens of the original's file: %v", err)
	}
	s := openStoreAt(t, path, resonance.Options{})
	if n := countRows(t, s.ReadDB(), "history"); n != c.History {
		t.Errorf("X1: %d history rows after concurrent adoption, want %d", n, c.History)
	}
	if n := countRows(t, s.ReadDB(), "schema_migrations"); n != len(mustMigrations(t, s)) {
		t.Errorf("X1: %d versions recorded, want %d", n, len(mustMigrations(t, s)))
	}
}

// mustMigrations reports the migrations of s opened with the application's
// migrations app.
func mustMigrations(t *testing.T, s *resonance.Store, app ...fs.FS) []resonance.MigrationStatus {
	t.Helper()
	ms, err := resonance.MigrationStatusOf(t.Context(), s.Path(), resonance.Options{Migrations: app})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestOpen_AdoptionKeepsOtherTablesAndHistoryCounter: a table of another
// program stays as it is, and history's AUTOINCREMENT counter keeps its
// value when the newest rows were deleted, so no id is used twice.
func TestOpen_AdoptionKeepsOtherTablesAndHistoryCounter(t *testing.T) {
	ctx := t.Context()
	path, c := newOriginal(t, originaldb.Options{})
	conn, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE app_notes (id INTEGER PRIMARY KEY, body TEXT)`,
		`INSERT INTO app_notes (body) VALUES ('kept')`,
		`DELETE FROM history WHERE id > (SELECT max(id) - 2 FROM history)`,
	} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	org, err := resonance.InspectOriginal(ctx, path, resonance.Options{})
	if err != nil || org == nil || !slices.Equal(org.OtherTables, []string{"app_notes"}) || org.Rows["history"] != int64(c.History-2) {
		t.Fatalf("InspectOriginal = %+v, %v; want app_notes among the other tables and %d history rows", org, err, c.History-2)
	}
	s := openStoreAt(t, path, resonance.Options{})
	var body string
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT body FROM app_notes`).Scan(&body); err != nil || body != "kept" {
		t.Errorf("X1: another program's table after adoption: %q, %v", body, err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "after", Type: "note"})
	}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT id FROM history WHERE entity_id = 'after'`).Scan(&id); err != nil || id != int64(c.History)+1 {
		t.Errorf("X1: the first history row after adoption has id %d (%v), want %d: an id of a deleted row was used again", id, err, c.History+1)
	}
}

// TestOpen_AdoptionThenApplicationMigrations: with an application's
// migrations, the original's database is converted and recorded with the
// library's versions, then the application's migration follows, after a
// backup of its own (M6), as on any database.
func TestOpen_AdoptionThenApplicationMigrations(t *testing.T) {
	ctx := t.Context()
	path, c := newOriginal(t, originaldb.Options{})
	s := openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{appMigrations}})
	ms := mustMigrations(t, s, appMigrations)
	if len(ms) != len(libraryVersions(t))+1 {
		t.Fatalf("X1: migrations after adopting with an application's: %+v", ms)
	}
	for _, m := range ms {
		if !m.Applied || m.File == "" {
			t.Errorf("X1: migration %+v after adoption, want applied", m)
		}
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO notes (node_id, body) VALUES (?, 'kept')`, originaldb.NodeFull); err != nil {
		t.Errorf("X1: the application's table after adoption: %v", err)
	}
	if n := countRows(t, s.ReadDB(), "history"); n != c.History {
		t.Errorf("X1: %d history rows, want %d", n, c.History)
	}
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "backups", "graph-*.db"))
	if len(backups) != 2 {
		t.Errorf("M6: backups %v: want the original's and one before the application's migration", backups)
	}
}
