package resonance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/resonance"
)

// The generated package is public: its plain GetNode reads the columns a
// graph write stored, as stored.
func TestQueries_GetNodeReadsStoredColumns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	n := resonance.Node{ID: "docs-a", Type: "note", Title: "A", Embedding: []float32{0.5, -1, 2}, Meta: json.RawMessage(`{"k":1}`)}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
		t.Fatal(err)
	}
	want, err := resonance.EncodeEmbedding(n.Embedding)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		r, err := db.New(tx).GetNode(ctx, n.ID)
		if err != nil {
			return err
		}
		if r.ID != n.ID || r.Type != n.Type || r.Title.String != n.Title || r.Domain != "knowledge" ||
			r.Layer != "experience" || r.Meta.String != string(n.Meta) || !bytes.Equal(r.Embedding, want) {
			t.Errorf("db.GetNode = %+v, want the stored columns of %+v", r, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
