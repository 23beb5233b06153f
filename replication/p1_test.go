package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// p1 runs the P1 bulk ingest (20,000 nodes with a 384-float embedding,
// meta JSON and a history row each, 3 edges per node, 1,000 nodes per
// transaction) on the store at path and returns nodes per second.
func p1(t *testing.T, path string, external bool) float64 {
	ctx := context.Background()
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true, ExternalCheckpoints: external})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const nodes, perTx = 20000, 1000
	emb := make([]float32, 384)
	start := time.Now()
	for b := 0; b < nodes; b += perTx {
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := b; i < b+perTx; i++ {
				emb[0], emb[1] = float32(i), float32(b)
				n := resonance.Node{ID: fmt.Sprintf("n%06d", i), Type: "doc", Title: "p1", Embedding: emb, Meta: json.RawMessage(`{"w":1}`)}
				if err := tx.UpsertNode(ctx, n); err != nil {
					return err
				}
			}
			for i := b; i < b+perTx; i++ {
				for k := 1; k <= 3; k++ {
					if err := tx.InsertEdge(ctx, fmt.Sprintf("n%06d", i), fmt.Sprintf("n%06d", (i+k)%nodes), "rel"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes / time.Since(start).Seconds()
}

// TestP1_WithLitestream measures P1 with Litestream replicating the
// database to a file replica against P1 without it, in alternating pairs
// in one run, both with external checkpoints so that only Litestream
// differs, and logs the medians and their ratio (README, Replication).
// It is a measurement, not a check: run it with `make litestream-p1`.
func TestP1_WithLitestream(t *testing.T) {
	if os.Getenv("RESONANCE_P1_PAIRS") == "" {
		t.Skip("a measurement: run `make litestream-p1` (RESONANCE_P1_PAIRS=N)")
	}
	var pairs int
	fmt.Sscan(os.Getenv("RESONANCE_P1_PAIRS"), &pairs)
	var with, without []float64
	for p := range pairs {
		plain := filepath.Join(t.TempDir(), "plain.db")
		without = append(without, p1(t, plain, true)) // the same store settings, no replicator

		s := newSetup(t, true)
		s.startLitestream()
		with = append(with, p1(t, s.db, true))
		s.stopLitestream(syscall.SIGTERM)
		t.Logf("pair %d: without Litestream %.0f nodes/s, with %.0f nodes/s", p+1, without[p], with[p])
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	t.Logf("P1 median of %d pairs: without Litestream %.0f nodes/s, with Litestream replicating (external checkpoints) %.0f nodes/s, ratio %.2f",
		pairs, med(without), med(with), med(with)/med(without))
}
