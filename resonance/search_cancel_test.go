package resonance_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// A search cancelled at any point (before it starts, while the copy is
// read, while it scores, while it reads its hits) leaves nothing behind:
// the next search, by the same caller or another, with or without a
// deadline, answers as if the cancelled one had never run. Commits between
// the searches make some of them read the copy again, so that cancellations
// also land inside a load.
func TestStore_SearchByVector_CancelledLeavesNothingBehind(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 8))
	const dim = 64
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	nodes := make([]resonance.Node, 3000)
	for i := range nodes {
		nodes[i] = resonance.Node{ID: fmt.Sprintf("n%d", i), Type: "doc", Embedding: vec()}
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
	queries := make([][]float32, 8)
	for i := range queries {
		queries[i] = vec()
	}
	o := resonance.SearchOptions{K: 10}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 40 {
				q := queries[rng.IntN(len(queries))]
				if g == 0 && i%5 == 0 {
					n := resonance.Node{ID: fmt.Sprintf("w%d", i), Type: "doc", Embedding: q}
					if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
						t.Error(err)
						return
					}
				}
				cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
				if rng.IntN(8) == 0 {
					cancel()
				}
				_, err := s.SearchByVector(cctx, q, o)
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("cancelled search: %v", err)
					return
				}
				got, err := s.SearchByVector(ctx, q, o)
				if err != nil {
					t.Errorf("search after a cancelled one: %v", err)
					return
				}
				var want resonance.SearchResult
				err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) (err error) {
					want, err = r.SearchByVector(ctx, q, o)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				// Another goroutine may commit between the two searches;
				// only the writer's own goroutine compares.
				if g == 0 {
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("search after a cancelled one (-snapshot +store):\n%s", diff)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
