// The control of writeinread: the same write inside Store.Tx compiles.
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
	_ = s.Tx(ctx, func(ctx context.Context, r *resonance.Tx) error {
		return r.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
	})
}
