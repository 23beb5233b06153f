package conformance_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/schema"
)

func resultFor(rep conformance.Report, rule string) (conformance.Result, bool) {
	i := slices.IndexFunc(rep.Results, func(r conformance.Result) bool { return r.Rule == rule })
	if i < 0 {
		return conformance.Result{}, false
	}
	return rep.Results[i], true
}

// TestCheckDatabase_HealthyDatabaseUnchanged runs the checks of `resonance
// doctor --conformance` on a sound database: every rule passes and the file
// is byte for byte what it was.
func TestCheckDatabase_HealthyDatabaseUnchanged(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	if err := s.Tx(ctx, insertNode(ctx, "kept")); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
	if !rep.OK() {
		t.Errorf("CheckDatabase of a sound database failed: %+v", rep.Failures())
	}
	for _, rule := range []string{"W1", "C10", "C2", "C1", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "M1", "M4", "O1", "W5"} {
		if r, ok := resultFor(rep, rule); !ok || !r.OK {
			t.Errorf("CheckDatabase: rule %s: %+v (reported: %v)", rule, r, ok)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if !bytes.Equal(before, after) {
		t.Error("CheckDatabase modified the database file")
	}
	if got := listDir(path); !slices.Equal(got, []string{"graph.db"}) {
		t.Errorf("CheckDatabase left %q behind", got)
	}
}

// TestCheckDatabase_FindsProblems checks that each kind of problem is
// reported under its rule with a fix, and that nothing is changed.
func TestCheckDatabase_FindsProblems(t *testing.T) {
	ctx := context.Background()
	expect := func(t *testing.T, rep conformance.Report, rule, detail string) {
		t.Helper()
		for _, r := range rep.Results {
			if r.Rule == rule && !r.OK && strings.Contains(r.Detail, detail) {
				if r.Fix == "" {
					t.Errorf("CheckDatabase: %s failure %q carries no fix", rule, r.Detail)
				}
				return
			}
		}
		t.Errorf("CheckDatabase: no failed %s result mentioning %q in %+v", rule, detail, rep.Results)
	}

	t.Run("Missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
		expect(t, rep, "C10", "does not exist")
		if _, err := os.Stat(path); err == nil {
			t.Error("CheckDatabase created the missing database")
		}
	})
	t.Run("NotADatabase", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "notes.db")
		os.WriteFile(path, []byte(strings.Repeat("not sqlite\n", 20)), 0o644)
		expect(t, conformance.CheckDatabase(ctx, path, resonance.Options{}), "O1", "not a SQLite database")
	})
	t.Run("RollbackJournalLeftAlone", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		db := plainDB(t, path, "_journal_mode=DELETE")
		if _, err := db.Exec(`CREATE TABLE x (a); INSERT INTO x VALUES (1)`); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		db.Close()
		rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
		expect(t, rep, "C2", "rollback-journal")
		expect(t, rep, "M1", "no schema_migrations")
		if a, _ := headerMode(t, path); a != 1 {
			t.Error("CheckDatabase switched a rollback-journal database to WAL")
		}
		if r, ok := resultFor(rep, "O1"); !ok || !r.OK {
			t.Errorf("CheckDatabase: integrity of the rollback-journal database: %+v", r)
		}
	})
	t.Run("PendingMigrations", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "behind.db")
		migrateByHand(t, path, schema.FS, "20240101000000_create_graph.sql")
		rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
		expect(t, rep, "M1", "pending")
		if got := appliedVersions(t, path); len(got) != 1 {
			t.Errorf("CheckDatabase applied migrations: %q", got)
		}
	})
	t.Run("ForeignKeyViolation", func(t *testing.T) {
		path := newDB(t)
		db := plainDB(t, path, "") // foreign_keys off, as a careless tool would write
		if _, err := db.Exec(`CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p (id)); INSERT INTO c VALUES (7)`); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		db.Close()
		expect(t, conformance.CheckDatabase(ctx, path, resonance.Options{}), "C6", "missing p row")
	})
	t.Run("Corrupt", func(t *testing.T) {
		path := newDB(t)
		s := openStore(t, path, resonance.Options{})
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500)
				INSERT INTO nodes (id, type, summary) SELECT 'n' || i, 'doc', hex(randomblob(200)) FROM c`)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		s.Close()
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 6*4096) // one page in the middle of the nodes b-tree
		f.Close()
		rep := conformance.CheckDatabase(ctx, path, resonance.Options{})
		if rep.OK() {
			t.Errorf("CheckDatabase passed a database with a page of garbage: %+v", rep.Results)
		}
		expect(t, rep, "O1", "integrity_check")
	})
	t.Run("WorldWritable", func(t *testing.T) {
		path := newDB(t)
		os.Chmod(path, 0o666)
		expect(t, conformance.CheckDatabase(ctx, path, resonance.Options{}), "W1", "world-writable")
	})
}
