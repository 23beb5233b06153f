package resonance

import (
	"context"
	"path/filepath"
	"testing"
)

// TestMultiRow proves every generated batch statement with EXPLAIN on a
// migrated database: each text compiles against the schema, and takes
// exactly one value per column of each of its rows.
func TestMultiRow(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "rows.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, st := range map[string]struct {
		m    *multiRow
		cols int
	}{
		"upsertNodeRows":         {&upsertNodeRows, 10},
		"historyRows":            {&historyRows, 5},
		"newEdgeRows":            {&newEdgeRows, 3},
		"insertOrIgnoreEdgeRows": {&insertOrIgnoreEdgeRows, 3},
	} {
		for n := 1; n <= maxChunkRows; n *= 2 {
			args := make([]any, n*st.cols)
			rows, err := s.DB().QueryContext(ctx, "EXPLAIN "+st.m.text(n), args...)
			if err != nil {
				t.Errorf("%s for %d rows: EXPLAIN with %d values: %v", name, n, len(args), err)
				continue
			}
			ops := 0
			for rows.Next() {
				ops++
			}
			if err := rows.Close(); err != nil || ops == 0 {
				t.Errorf("%s for %d rows: EXPLAIN gave %d instructions, %v", name, n, ops, err)
			}
			if _, err := s.DB().ExecContext(ctx, "EXPLAIN "+st.m.text(n), args[1:]...); err == nil {
				t.Errorf("%s for %d rows: EXPLAIN with one value fewer than %d succeeded", name, n, len(args))
			}
		}
	}
	for n, want := range map[int]int{1: 1, 3: 2, 31: 16, 32: 32, 1000: 32} {
		if got := chunkRows(n); got != want {
			t.Errorf("chunkRows(%d) = %d, want %d", n, got, want)
		}
	}
}
