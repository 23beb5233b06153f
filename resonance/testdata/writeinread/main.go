// This program does not compile, on purpose: a ReadTx has no graph writes,
// so a write inside Store.Read is a compile error (T5).
// TestReadTx_WriteInReadDoesNotCompile builds it and expects the error.
package main

import (
	"context"

	"github.com/resonance-graph/resonancedb/resonance"
)

func main() {
	ctx := context.Background()
	s, err := resonance.Open(ctx, "graph.db", resonance.Options{Create: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	_ = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		return r.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
	})
}
