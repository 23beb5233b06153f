package resonance

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/db"
)

// The edge lookups search an index and need no sort: OutgoingEdges the
// primary key (source, target, type) of the WITHOUT ROWID table, which
// serves every lookup by source since migration 20240101000300 dropped the
// separate index on source, and IncomingEdges idx_edges_target.
func TestEdgeLookupsSearchAnIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for stmt, want := range map[string]string{
		db.OutgoingEdges: "SEARCH edges USING PRIMARY KEY (source=?)",
		db.IncomingEdges: "SEARCH edges USING INDEX idx_edges_target (target=?)",
	} {
		rows, err := s.ReadDB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt, "x")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, want) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("plan of %q:\n  %s\nwant %q and no sort", stmt, got, want)
		}
	}
}
