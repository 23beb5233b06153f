package resonance_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestTx_ManySmallQueriesDoNotGrowTheHeap: what a transaction keeps of
// its handle's queries, so that its end can close them, does not grow
// with queries already finished (db.New(tx) goes through them too).
func TestTx_ManySmallQueriesDoNotGrowTheHeap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openStore(t, resonance.Options{})
	const n = 100000
	var grew int64
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range n {
			var x int
			if err := tx.QueryRowContext(ctx, `SELECT ?`, i).Scan(&x); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, `SELECT 1`)
			if err != nil {
				return err
			}
			rows.Close()
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		grew = int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if grew > 10<<20 {
		t.Errorf("live heap grew by %.1f MiB inside one transaction of %d finished queries: each is kept until the end", float64(grew)/(1<<20), n)
	}
}
