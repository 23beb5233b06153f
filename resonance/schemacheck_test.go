package resonance_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestStore_HealthChecksTheLibrarysSchema: an application migration that
// drops or changes one of the library's tables, columns, indexes or triggers leaves a
// store whose Health says so, naming the object, read-write and read-only.
func TestStore_HealthChecksTheLibrarysSchema(t *testing.T) {
	for _, c := range []struct{ name, up, want string }{
		{"DropNodes", "DROP TABLE nodes;", "table nodes is missing"},
		{"DropColumn", "ALTER TABLE nodes DROP COLUMN summary;", "nodes has no column summary"},
		{"DropIndex", "DROP INDEX idx_edges_target;", "index idx_edges_target is missing"},
		{"RenameHistory", "ALTER TABLE history RENAME TO old_history;", "table history is missing"},
		{"DropTrigger", "DROP TRIGGER node_changes_update;", "trigger node_changes_update is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			app := fstest.MapFS{"29000101000000_app.sql": {Data: []byte("-- migrate:up\n" + c.up + "\n-- migrate:down\n")}}
			path := filepath.Join(t.TempDir(), "g.db")
			o := resonance.Options{Create: true, Migrations: []fs.FS{app}}
			for _, ro := range []bool{false, true} {
				o.ReadOnly = ro
				s, err := resonance.Open(t.Context(), path, o)
				if err != nil {
					t.Fatal(err)
				}
				h, err := s.Health(t.Context())
				if err == nil || len(h.Problems) == 0 || !strings.Contains(err.Error(), c.want) || !strings.Contains(strings.Join(h.Problems, "; "), c.want) {
					t.Errorf("read-only %v: Health = %+v, %v; want unhealthy naming %q", ro, h, err, c.want)
				}
				s.Close()
			}
		})
	}
	s := openStore(t, resonance.Options{})
	if h, err := s.Health(t.Context()); err != nil || len(h.Problems) > 0 {
		t.Errorf("Health of an untouched database = %+v, %v; want healthy", h, err)
	}
}
