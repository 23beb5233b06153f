package resonance_test

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

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

// BenchmarkOpen_AdoptOriginal converts a copy of one original's database
// per iteration: "chunked" as Open does, in statements of a chunk of rows
// each with a progress call after each, against "one-statement", one
// statement per table, the copy before chunking. Without the
// pre-migration backup, the same for both.
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
	rows := org.Rows["nodes"] + org.Rows["edges"] + org.Rows["ember_state"] + org.Rows["history"]
	for _, v := range []struct {
		name  string
		chunk int64
	}{{"chunked", 0}, {"one-statement", math.MaxInt64}} {
		b.Run(fmt.Sprintf("nodes=%d/%s", nodes, v.name), func(b *testing.B) {
			if v.chunk > 0 {
				resonance.SetAdoptChunk(b, v.chunk)
			}
			var calls int
			ctx := resonance.WithProgress(b.Context(), func(done, total int64) { calls++ })
			dir := b.TempDir()
			for b.Loop() {
				b.StopTimer()
				path := filepath.Join(dir, "graph.db")
				copyFile(b, src, path)
				calls = 0
				b.StartTimer()
				s, err := resonance.Open(ctx, path, resonance.Options{BackupKeep: -1})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				for _, suffix := range []string{"", "-wal", "-shm"} {
					os.Remove(path + suffix)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(calls), "progress-calls")
		})
	}
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
