package resonance_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestStore_ReadsPackedText writes nodes whose text holds the packed
// format's own separators, digits, non-ASCII and empty fields, and reads
// them back through every read path: the Store's (raw driver) and the
// Tx's (generated queries).
func TestStore_ReadsPackedText(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{Create: true})
	want := []resonance.Node{
		{ID: "12,3:4", Type: "5:", Title: ",,::", Domain: "d,1", Layer: "9", Hash: "0", Summary: "ü…€ 𝄞", Date: ":", Meta: json.RawMessage(`{"a":"1,2:3"}`)},
		{ID: "plain", Type: "t", Domain: "knowledge", Layer: "experience"},
		{ID: "é", Type: "日本", Title: "x", Domain: "knowledge", Layer: "experience", Meta: json.RawMessage(`{}`), Embedding: []float32{1, -0, 3.5}},
	}
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for _, n := range want {
			if err := tx.UpsertNode(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	skip := make([]resonance.Node, len(want))
	for i, n := range want {
		n.Embedding = nil
		skip[i] = n
	}
	check := func(name string, got any, want any) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	for _, n := range want {
		got, err := s.Reads().GetNode(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("Reads().GetNode("+n.ID+")", got, n)
	}
	all, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	check("Reads().GetNodes", all, want)
	meta, err := s.Reads().GetNodes(ctx, resonance.NodeFilter{SkipEmbedding: true})
	if err != nil {
		t.Fatal(err)
	}
	check("Reads().GetNodes(SkipEmbedding)", meta, skip)
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		for _, n := range want {
			got, err := tx.GetNode(ctx, n.ID)
			if err != nil {
				return err
			}
			check("Tx.GetNode("+n.ID+")", got, n)
		}
		all, err := tx.GetNodes(ctx, resonance.NodeFilter{})
		if err != nil {
			return err
		}
		check("Tx.GetNodes", all, want)
		meta, err := tx.GetNodes(ctx, resonance.NodeFilter{SkipEmbedding: true, Offset: 1, Limit: 1})
		if err != nil {
			return err
		}
		check("Tx.GetNodes(SkipEmbedding, Offset 1, Limit 1)", meta, skip[1:2])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
