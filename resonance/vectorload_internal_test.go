package resonance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestVectorIndex_LoadHeapWithinBound: while the copy is read, the Go heap
// holds at most Options.VectorCacheBytes and loadSlack more than before the
// first search, though the rows read carry four times as many bytes as the
// copy keeps. The search runs in a child process, whose heap holds nothing
// else, with the collector at its default pace.
func TestVectorIndex_LoadHeapWithinBound(t *testing.T) {
	const bound = 16 << 20
	if path := os.Getenv("RESONANCE_LOAD_HEAP_CHILD_DB"); path != "" {
		loadHeapChild(t, path, bound)
		return
	}
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{})
	// 10,000 embeddings of 1,536 floats: 61 MB as float32, 15 MiB as the
	// copy.
	upsertNodes(t, s, randomNodes(rand.New(rand.NewPCG(20, 16)), 10000, 1536))
	cmd := exec.Command(os.Args[0], "-test.run=^TestVectorIndex_LoadHeapWithinBound$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "RESONANCE_LOAD_HEAP_CHILD_DB="+path, "GOGC=100", "GOMEMLIMIT=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child's search: %v\n%s", err, out)
	}
	var peak int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "peak "); ok {
			peak, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if peak == 0 {
		t.Fatalf("the child printed no peak:\n%s", out)
	}
	t.Logf("the heap grew by at most %d bytes while the copy was read", peak)
	if limit := int64(bound) + loadSlack(bound); peak > limit {
		t.Errorf("the heap grew by %d bytes while the copy was read, want at most %d (the bound %d and the slack)", peak, limit, bound)
	}
}

// loadHeapChild searches the store at path once and prints the largest
// growth of the heap (live and not yet freed objects) it sampled meanwhile.
func loadHeapChild(t *testing.T, path string, bound int64) {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{ReadOnly: true, VectorCacheBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(heap)
		return int64(heap[0].Value.Uint64())
	}
	runtime.GC()
	base := read()
	var peak atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			peak.Store(max(peak.Load(), read()-base))
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	q := make([]float32, 1536)
	q[0] = 1
	_, err = s.SearchByVector(ctx, q, SearchOptions{K: 10})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.vectorIndex()
	if x.loads != 1 || x.c == nil || x.c.len() != 10000 {
		t.Fatalf("%d loads, copy %v: want one load of every row", x.loads, x.c != nil)
	}
	fmt.Printf("peak %d\n", peak.Load())
}
