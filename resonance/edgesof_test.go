package resonance_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/resonance"
)

// TestOutgoingEdgesOf checks that the set-based read returns, for every
// id, exactly what OutgoingEdges returns for it: ordered by target and
// type, fields intact, ids that need JSON escaping or cannot go through
// JSON at all included, missing and repeated ids handled.
func TestOutgoingEdgesOf(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	odd := []string{`q"uote`, `back\slash`, "new\nline", "bad\xffutf8", "nul\x00id", "emoji 🙂", "\u2028sep"}
	sources := append([]string{"a", "b", "c"}, odd...)
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for i, src := range sources {
			// The graph API refuses text that is not UTF-8 (D9), which
			// other programs may still have written: through the
			// generated queries, without history.
			q := db.New(tx)
			// Inserted out of key order, so the read must order them.
			for _, tgt := range []string{"z", "m", "a"} {
				if err := tx.InsertEdge(ctx, src, tgt, "references"); utf8.ValidString(src) && err != nil {
					return err
				}
				if !utf8.ValidString(src) {
					if _, err := q.InsertEdge(ctx, db.InsertEdgeParams{Source: src, Target: tgt, Type: "references"}); err != nil {
						return err
					}
				}
			}
			e := resonance.Edge{Source: src, Target: "m", Type: "derived_from",
				Confidence: 0.1 * float64(i+1), Veracity: 0.3, ContextSource: "ctx " + src}
			if !utf8.ValidString(src) {
				if err := q.UpsertSemanticEdge(ctx, db.UpsertSemanticEdgeParams{Source: e.Source, Target: e.Target, Type: e.Type,
					Confidence: e.Confidence, Veracity: e.Veracity, ContextSource: sql.NullString{String: e.ContextSource, Valid: true}}); err != nil {
					return err
				}
			} else if err := tx.UpsertSemanticEdge(ctx, e); err != nil {
				return err
			}
		}
		return tx.InsertEdge(ctx, "x", "a", "") // an edge of a node not asked for
	})
	if err != nil {
		t.Fatal(err)
	}
	ask := append(append([]string{}, sources...), "missing", "a", "b") // a missing id and repeats
	got, err := s.Reads().OutgoingEdgesOf(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]resonance.Edge{}
	for _, id := range ask {
		es, err := s.Reads().OutgoingEdges(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = es
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OutgoingEdgesOf differs from OutgoingEdges per id (-want +got):\n%s", diff)
	}
	if len(got["a"]) != 4 || got["a"][0].Target != "a" || got["a"][1].Type != "derived_from" {
		t.Errorf("edges of a = %+v, want 4 ordered by target and type", got["a"])
	}
	if got["missing"] == nil || len(got["missing"]) != 0 {
		t.Errorf("edges of a missing node = %#v, want an empty, non-nil slice", got["missing"])
	}

	// In a read transaction, and with nothing asked.
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		m, err := r.OutgoingEdgesOf(ctx, []string{"c"})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want["c"], m["c"]); diff != "" || len(m) != 1 {
			t.Errorf("ReadTx.OutgoingEdgesOf(c) = %v (-want +got):\n%s", m, diff)
		}
		none, err := r.OutgoingEdgesOf(ctx, nil)
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("OutgoingEdgesOf(nil) = %#v, %v; want an empty map", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reads().OutgoingEdgesOf(ctx, []string{"a"}); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("OutgoingEdgesOf on a closed store: %v, want ErrClosed", err)
	}
}
