package resonance_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// Closing a store while other goroutines write through Store.UpsertNode and
// Store.Tx gives each write ErrClosed or success, never a panic (O4).
func TestStore_CloseWhileWriting(t *testing.T) {
	ctx := context.Background()
	for run := range 20 {
		path := filepath.Join(t.TempDir(), "graph.db")
		s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		started := make(chan struct{}, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					var err error
					id := fmt.Sprintf("g%d-%d", g, i)
					if g%2 == 0 {
						err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
							return tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "note", Title: id})
						})
					} else {
						err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
							return tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "note", Title: id})
						})
					}
					if i == 3 || (err != nil && i < 3) {
						started <- struct{}{}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		for range 8 {
			<-started
		}
		if err := s.Close(); err != nil && !errors.Is(err, resonance.ErrLeakedConnections) {
			t.Errorf("run %d: Close: %v", run, err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, resonance.ErrClosed) {
				t.Errorf("run %d: a write racing Close failed with %v; want ErrClosed", run, err)
			}
		}
	}
}
