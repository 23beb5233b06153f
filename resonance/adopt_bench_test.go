package resonance_test

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/internal/originaldb"
	"github.com/resonance-graph/resonancedb/resonance"
)

// adoptBenchNodes is the size of the original BenchmarkOpen_AdoptOriginal
// converts: $RESONANCE_BENCH_ADOPT_NODES generated nodes (each with a
// 384-float embedding, a ~10 KB history row and an edge), else 5,000,
// which keeps `make bench` short. The README's figures used 200,000.
func adoptBenchNodes(b *testing.B) int {
	v := os.Getenv("RESONANCE_BENCH_ADOPT_NODES")
	if v == "" {
		return 5000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("RESONANCE_BENCH_ADOPT_NODES is %q: want a number of nodes", v)
	}
	return n
}

// BenchmarkOpen_AdoptOriginal converts two copies of one original's
// database per iteration, one each way, in turn first: "chunked" as Open
// does, in statements of AdoptChunk rows with a progress call after each,
// and "one-statement", one statement a table, the copy before chunking.
// Both without the pre-migration backup. It reports the median seconds
// of each and the median of the iterations' ratios.
func BenchmarkOpen_AdoptOriginal(b *testing.B) {
	nodes := adoptBenchNodes(b)
	src := filepath.Join(b.TempDir(), "original.db")
	if _, err := originaldb.Create(b.Context(), src, originaldb.Options{ExtraNodes: nodes}); err != nil {
		b.Fatal(err)
	}
	org, err := resonance.InspectOriginal(b.Context(), src, resonance.Options{})
	if err != nil || org == nil {
		b.Fatalf("InspectOriginal = %+v, %v", org, err)
	}
	b.Logf("%d nodes: %v rows", nodes, org.Rows)
	calls := 0
	ctx := resonance.WithProgress(b.Context(), func(done, total int64) { calls++ })
	path := filepath.Join(b.TempDir(), "graph.db")
	convert := func(chunk int64) float64 {
		b.StopTimer()
		resonance.SetAdoptChunk(b, chunk)
		copyFile(b, src, path)
		b.StartTimer()
		start := time.Now()
		s, err := resonance.Open(ctx, path, resonance.Options{BackupKeep: -1})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start).Seconds()
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		b.StartTimer()
		return took
	}
	var chunked, whole, ratio []float64
	for i := 0; b.Loop(); i++ {
		var c, w float64
		if i%2 == 0 {
			c, w = convert(resonance.AdoptChunk), convert(math.MaxInt64)
		} else {
			w, c = convert(math.MaxInt64), convert(resonance.AdoptChunk)
		}
		chunked, whole, ratio = append(chunked, c), append(whole, w), append(ratio, c/w)
	}
	b.ReportMetric(median(chunked), "chunked-s")
	b.ReportMetric(median(whole), "one-statement-s")
	b.ReportMetric(median(ratio), "chunked/one-statement")
	b.ReportMetric(float64(calls)/float64(len(chunked)+len(whole)), "progress-calls/op")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
