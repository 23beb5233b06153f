package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestStore_ReadsAreReadTxReads: every read of Store.Reads, outside a
// transaction, answers as the ReadTx of a Read does (SearchByVector: the
// Store's search from its vector index as the ReadTx's scan), and returns
// ErrClosed once the store is closed, in an error that says the operation
// once.
func TestStore_ReadsAreReadTxReads(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for _, n := range []resonance.Node{
			{ID: "a", Type: "doc", Hash: "h-a", Embedding: []float32{1, 0}},
			{ID: "b", Type: "doc", Embedding: []float32{0, 1}},
			{ID: "c", Type: "concept", Domain: "lexicon", Title: "C", Meta: json.RawMessage(`{"aliases":["see"],"definition":"the letter"}`)},
		} {
			if err := tx.UpsertNode(ctx, n); err != nil {
				return err
			}
		}
		return tx.InsertEdges(ctx, []resonance.Edge{{Source: "a", Target: "b"}, {Source: "c", Target: "b", Type: "names"}, {Source: "b", Target: "a"}})
	})
	if err != nil {
		t.Fatal(err)
	}

	// Each read, once on the Store and once on a ReadTx.
	reads := []struct {
		name  string
		store func() (any, error)
		tx    func(ctx context.Context, r *resonance.ReadTx) (any, error)
	}{
		{"GetNode", func() (any, error) { return s.Reads().GetNode(ctx, "a") },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) { return r.GetNode(ctx, "a") }},
		{"GetNodes", func() (any, error) { return s.Reads().GetNodes(ctx, resonance.NodeFilter{Type: "doc"}) },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) {
				return r.GetNodes(ctx, resonance.NodeFilter{Type: "doc"})
			}},
		{"NodeHash", func() (any, error) { return s.Reads().NodeHash(ctx, "a") },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) { return r.NodeHash(ctx, "a") }},
		{"OutgoingEdges", func() (any, error) { return s.Reads().OutgoingEdges(ctx, "a") },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) { return r.OutgoingEdges(ctx, "a") }},
		{"OutgoingEdgesOf", func() (any, error) { return s.Reads().OutgoingEdgesOf(ctx, []string{"a", "c"}) },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) {
				return r.OutgoingEdgesOf(ctx, []string{"a", "c"})
			}},
		{"IncomingEdges", func() (any, error) { return s.Reads().IncomingEdges(ctx, "b") },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) { return r.IncomingEdges(ctx, "b") }},
		{"Lexicon", func() (any, error) { return s.Reads().Lexicon(ctx) },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) { return r.Lexicon(ctx) }},
		{"History", func() (any, error) { return s.Reads().History(ctx, resonance.HistoryFilter{NodeID: "a"}) },
			func(ctx context.Context, r *resonance.ReadTx) (any, error) {
				return r.History(ctx, resonance.HistoryFilter{NodeID: "a"})
			}},
		{"Neighbourhood", func() (any, error) {
			return s.Reads().Neighbourhood(ctx, "a", resonance.NeighbourhoodOptions{Depth: 2, Direction: "both"})
		}, func(ctx context.Context, r *resonance.ReadTx) (any, error) {
			return r.Neighbourhood(ctx, "a", resonance.NeighbourhoodOptions{Depth: 2, Direction: "both"})
		}},
		{"SearchByVector", func() (any, error) {
			return s.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{})
		}, func(ctx context.Context, r *resonance.ReadTx) (any, error) {
			return r.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{})
		}},
	}
	for _, rd := range reads {
		got, err := rd.store()
		if err != nil {
			t.Fatalf("Store.%s: %v", rd.name, err)
		}
		var want any
		if err := s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) (err error) {
			want, err = rd.tx(ctx, r)
			return err
		}); err != nil {
			t.Fatalf("ReadTx.%s: %v", rd.name, err)
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("Store.%s differs from ReadTx.%s (-ReadTx +Store):\n%s", rd.name, rd.name, diff)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, rd := range reads {
		_, err := rd.store()
		if !errors.Is(err, resonance.ErrClosed) || strings.Count(err.Error(), "resonance:") != 1 {
			t.Errorf("Store.%s after Close = %v, want ErrClosed under one resonance: prefix", rd.name, err)
		}
	}
}
