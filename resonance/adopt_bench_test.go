package resonance_test

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
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
// of each, wall and CPU, and the medians of the iterations' ratios.
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
	// convert returns the wall and the CPU seconds (user and system, of
	// the whole process) of one Open that converts.
	convert := func(chunk int64) (wall, cpu float64) {
		b.StopTimer()
		resonance.SetAdoptChunk(b, chunk)
		copyFile(b, src, path)
		b.StartTimer()
		start, cpuStart := time.Now(), cpuSeconds(b)
		s, err := resonance.Open(ctx, path, resonance.Options{BackupKeep: -1})
		if err != nil {
			b.Fatal(err)
		}
		wall, cpu = time.Since(start).Seconds(), cpuSeconds(b)-cpuStart
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		b.StartTimer()
		return wall, cpu
	}
	var chunked, whole, ratio, chunkedCPU, wholeCPU, ratioCPU []float64
	for i := 0; b.Loop(); i++ {
		var c, w, cc, wc float64
		if i%2 == 0 {
			c, cc = convert(resonance.AdoptChunk)
			w, wc = convert(math.MaxInt64)
		} else {
			w, wc = convert(math.MaxInt64)
			c, cc = convert(resonance.AdoptChunk)
		}
		b.Logf("chunked %.2fs (CPU %.2fs), one statement %.2fs (CPU %.2fs)", c, cc, w, wc)
		chunked, whole, ratio = append(chunked, c), append(whole, w), append(ratio, c/w)
		chunkedCPU, wholeCPU, ratioCPU = append(chunkedCPU, cc), append(wholeCPU, wc), append(ratioCPU, cc/wc)
	}
	b.ReportMetric(median(chunked), "chunked-s")
	b.ReportMetric(median(whole), "one-statement-s")
	b.ReportMetric(median(ratio), "chunked/one-statement")
	b.ReportMetric(median(chunkedCPU), "chunked-cpu-s")
	b.ReportMetric(median(wholeCPU), "one-statement-cpu-s")
	b.ReportMetric(median(ratioCPU), "cpu-chunked/one-statement")
	b.ReportMetric(float64(calls)/float64(len(chunked)+len(whole)), "progress-calls/op")
}

// cpuSeconds is the CPU time the process has used, user and system.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
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
