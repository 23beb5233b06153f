package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/internal/originaldb"
	"github.com/resonance-graph/resonancedb/resonance"
)

// chunkedOriginal builds an original's database whose rowids have gaps
// wider than chunk (nodes deleted in the middle), a negative history id
// and nodes at the highest rowids, and returns its path and the rows of
// its four tables.
func chunkedOriginal(t *testing.T, chunk int) (string, map[string]int64) {
	t.Helper()
	path, _ := newOriginal(t, originaldb.Options{ExtraNodes: 40})
	conn, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 3; i < 3+2*chunk; i++ {
		if _, err := conn.Exec(`DELETE FROM nodes WHERE id = ?`, fmt.Sprintf("notes-%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(`INSERT INTO history (id, entity_type, entity_id, action) VALUES (-3, 'node', 'gone', 'delete')`); err != nil {
		t.Fatal(err)
	}
	// More than a chunk of rows at the top of the rowids, where a range's
	// end must not overflow.
	for i := range 2 * chunk {
		if _, err := conn.Exec(`INSERT INTO nodes (rowid, id, type) VALUES (?, ?, 'note')`, int64(math.MaxInt64)-int64(i), fmt.Sprintf("top-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	org, err := resonance.InspectOriginal(t.Context(), path, resonance.Options{})
	if err != nil || org == nil {
		t.Fatalf("InspectOriginal = %+v, %v", org, err)
	}
	return path, org.Rows
}

// TestOpen_AdoptionReportsProgress converts an original in chunks of a
// few rows: the func WithProgress put in Open's context sees (0, total),
// then a count grown by 1 to 7 rows after every chunk up to (total,
// total), and the rows, gaps and a negative rowid included, are exactly
// what adoption documents.
func TestOpen_AdoptionReportsProgress(t *testing.T) {
	const chunk = 7
	resonance.SetAdoptChunk(t, chunk)
	path, rows := chunkedOriginal(t, chunk)
	before := snapshot(t, path)

	var total, chunks int64
	for _, table := range []string{"nodes", "edges", "ember_state", "history"} {
		total += rows[table]
		chunks += (rows[table] + chunk - 1) / chunk
	}
	type report struct{ done, total int64 }
	var got []report
	ctx := resonance.WithProgress(t.Context(), func(done, total int64) { got = append(got, report{done, total}) })
	s, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if int64(len(got)) < 1+chunks {
		t.Fatalf("progress was called %d times: %v; want once at the start and once for each of at least %d chunks", len(got), got, chunks)
	}
	if got[0] != (report{0, total}) || got[len(got)-1] != (report{total, total}) {
		t.Errorf("progress went from %v to %v; want from {0 %d} to {%d %d}", got[0], got[len(got)-1], total, total, total)
	}
	for i := 1; i < len(got); i++ {
		if got[i].total != total || got[i].done <= got[i-1].done || got[i].done-got[i-1].done > chunk {
			t.Errorf("progress call %d: %v after %v; want the same total and done grown by 1 to %d", i, got[i], got[i-1], chunk)
		}
	}

	checkAdopted(t, before, path, "a chunked adoption")

	// An open that converts nothing never calls it.
	got = nil
	s2, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if len(got) != 0 {
		t.Errorf("progress called by an open that converted nothing: %v", got)
	}
}

// TestOpen_AdoptionCancelledBetweenChunksChangesNothing cancels Open while
// the rows are being copied, after the first chunks are in: the copy is in
// the conversion's one transaction, so the file is still the original's,
// and a later open converts it.
func TestOpen_AdoptionCancelledBetweenChunksChangesNothing(t *testing.T) {
	const chunk = 5
	resonance.SetAdoptChunk(t, chunk)
	path, rows := chunkedOriginal(t, chunk)
	before := snapshot(t, path)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cancelledAt int64
	ctx = resonance.WithProgress(ctx, func(done, total int64) {
		if done > 3*chunk && cancelledAt == 0 {
			cancelledAt = done
			cancel()
		}
	})
	s, err := resonance.Open(ctx, path, resonance.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open with its context cancelled during the copy succeeded")
	}
	if !errors.Is(err, context.Canceled) || cancelledAt == 0 {
		t.Fatalf("Open cancelled after %d rows: %v; want an error wrapping context.Canceled", cancelledAt, err)
	}
	if diff := cmp.Diff(before, snapshot(t, path)); diff != "" {
		t.Fatalf("X1: a conversion cancelled after %d rows changed the original's rows (-before +after):\n%s", cancelledAt, diff)
	}
	if org, err := resonance.InspectOriginal(t.Context(), path, resonance.Options{}); err != nil || org == nil || !cmp.Equal(org.Rows, rows) {
		t.Fatalf("X1: after a cancelled conversion, InspectOriginal = %+v, %v; want the original as it was", org, err)
	}
	s = openStoreAt(t, path, resonance.Options{})
	if n := countRows(t, s.ReadDB(), "history"); int64(n) != rows["history"] {
		t.Errorf("X1: %d history rows after converting again, want %d", n, rows["history"])
	}
}

// TestOpen_AdoptionProgressPanicRollsBack: a progress func that panics
// ends the conversion's transaction on its way out, so the panic reaches
// the caller (instead of Open waiting forever to release its connection)
// and the file is still the original's.
func TestOpen_AdoptionProgressPanicRollsBack(t *testing.T) {
	const chunk = 5
	resonance.SetAdoptChunk(t, chunk)
	path, rows := chunkedOriginal(t, chunk)
	before := snapshot(t, path)
	ctx := resonance.WithProgress(context.Background(), func(done, total int64) {
		if done > chunk {
			panic("progress")
		}
	})
	func() {
		defer func() {
			if p := recover(); p != "progress" {
				t.Errorf("Open's panic: %v; want the progress func's", p)
			}
		}()
		s, err := resonance.Open(ctx, path, resonance.Options{})
		t.Errorf("Open returned %v, %v; want the progress func's panic", s, err)
	}()
	if diff := cmp.Diff(before, snapshot(t, path)); diff != "" {
		t.Fatalf("X1: a conversion whose progress func panicked changed the original's rows (-before +after):\n%s", diff)
	}
	s := openStoreAt(t, path, resonance.Options{})
	if n := countRows(t, s.ReadDB(), "nodes"); int64(n) != rows["nodes"] {
		t.Errorf("X1: %d nodes after converting again, want %d", n, rows["nodes"])
	}
}
