package resonance

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func openSearchStore(t *testing.T, path string, o Options) *Store {
	t.Helper()
	o.Create = true
	s, err := Open(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.closeVectorIndex()
		s.Close()
	})
	return s
}

// TestVectorIndex_ReadsEmbeddingsOnlyAfterAChange: searches of an
// unchanged database score the copy in memory; a commit by another
// connection makes the next search read the embeddings again, once.
func TestVectorIndex_ReadsEmbeddingsOnlyAfterAChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{})
	other := openSearchStore(t, path, Options{})
	if err := s.UpsertNode(ctx, Node{ID: "a", Type: "doc", Embedding: []float32{1, 0}}); err != nil {
		t.Fatal(err)
	}
	q := []float32{1, 1}
	search := func() {
		t.Helper()
		if _, err := s.SearchByVector(ctx, q, SearchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	loads := func() int {
		x, _ := s.vectorIndex()
		return x.loads
	}
	for range 5 {
		search()
	}
	if n := loads(); n != 1 {
		t.Fatalf("5 searches of an unchanged database read the embeddings %d times, want 1", n)
	}
	if err := other.UpsertNode(ctx, Node{ID: "b", Type: "doc", Embedding: []float32{0, 1}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		search()
	}
	if n := loads(); n != 2 {
		t.Fatalf("after one commit by another store, 3 searches: %d reads in all, want 2", n)
	}
	if err := s.UpsertNode(ctx, Node{ID: "c", Type: "doc", Embedding: []float32{0, 1}}); err != nil {
		t.Fatal(err)
	}
	search()
	search()
	if n := loads(); n != 3 {
		t.Fatalf("after one commit by the same store, 2 searches: %d reads in all, want 3", n)
	}
}

// TestVectorIndex_DataVersionBeginsTheSnapshot proves what the index
// relies on: PRAGMA data_version, as the first statement of a read
// transaction, begins its snapshot, so a commit after it is neither seen
// by the transaction nor missed by the next data_version.
func TestVectorIndex_DataVersionBeginsTheSnapshot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{})
	x, _ := s.vectorIndex()
	conn, err := x.connection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	version := func() int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v1 int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v1); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertNode(ctx, Node{ID: "a", Type: "doc", Embedding: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM nodes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	var v2 int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v2); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if n != 0 || v1 != v2 || v1 != before {
		t.Errorf("inside the transaction: %d nodes, data_version %d then %d (before %d): want 0 nodes and one version", n, v1, v2, before)
	}
	if after := version(); after == v1 {
		t.Errorf("data_version after the commit is still %d", after)
	}
}

// TestDot4_BitIdenticalToSimpleLoop: the four-at-a-time dot products equal
// the plain loop and the original's sum bit for bit, on values of every
// magnitude, denormals included.
func TestDot4_BitIdenticalToSimpleLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			switch rng.IntN(3) {
			case 0:
				v[i] = math.Float32frombits(rng.Uint32() & 0x807fffff)
			case 1:
				v[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(60)-30)))
			default:
				v[i] = float32(rng.NormFloat64())
			}
		}
		return v
	}
	for range 2000 {
		n := 1 + rng.IntN(400)
		q32 := draw(n)
		q := make([]float64, n)
		for i, x := range q32 {
			q[i] = float64(x)
		}
		vs := [4][]float32{draw(n), draw(n), draw(n), draw(n)}
		got := [4]float64{}
		got[0], got[1], got[2], got[3] = dot4(q, vs[0], vs[1], vs[2], vs[3])
		for j, v := range vs {
			var want float64
			for i := range q32 {
				want += float64(q32[i]) * float64(v[i])
			}
			if math.Float64bits(got[j]) != math.Float64bits(want) || math.Float64bits(dot(q, v)) != math.Float64bits(want) {
				t.Fatalf("n=%d: dot4 %v, dot %v, want %v", n, got[j], dot(q, v), want)
			}
		}
	}
}

// TestVectorIndex_Bound: the copy stays within Options.VectorCacheBytes;
// beyond it the index keeps nothing and searches scan.
func TestVectorIndex_Bound(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{VectorCacheBytes: 64 << 10})
	v := make([]float32, 384)
	v[0] = 1
	for i := range 20 {
		if err := s.UpsertNode(ctx, Node{ID: "n" + string(rune('a'+i)), Type: "doc", Embedding: v}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.SearchByVector(ctx, v, SearchOptions{K: 100})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.vectorIndex()
	if len(res.Hits) != 20 || x.tooBig || x.bytes == 0 || x.bytes > 64<<10 {
		t.Fatalf("20 × 384 floats: %d hits, tooBig %v, %d bytes kept; want 20 hits in the copy within 64 KiB", len(res.Hits), x.tooBig, x.bytes)
	}
	for i := 20; i < 60; i++ {
		if err := s.UpsertNode(ctx, Node{ID: "m" + string(rune('a'+i)), Type: "doc", Embedding: v}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err = s.SearchByVector(ctx, v, SearchOptions{K: 100}); err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 60 || !x.tooBig || x.sets != nil || x.bytes != 0 {
		t.Fatalf("60 × 384 floats: %d hits, tooBig %v, %d bytes kept; want 60 hits by a scan and no copy", len(res.Hits), x.tooBig, x.bytes)
	}
}

// BenchmarkDotKernels scores 20,000 vectors of 384 floats in memory, one
// at a time with dot and four at a time with dot4 (the same sums, bit for
// bit): what the copy in memory costs per query besides the top k.
func BenchmarkDotKernels(b *testing.B) {
	const n, dim = 20000, 384
	rng := rand.New(rand.NewPCG(5, 6))
	vecs := make([]float32, n*dim)
	for i := range vecs {
		vecs[i] = float32(rng.NormFloat64())
	}
	q := make([]float64, dim)
	for i := range q {
		q[i] = float64(float32(rng.NormFloat64()))
	}
	vec := func(i int) []float32 { return vecs[i*dim : (i+1)*dim] }
	var sink float64
	b.Run("one-at-a-time", func(b *testing.B) {
		for b.Loop() {
			for i := range n {
				sink += dot(q, vec(i))
			}
		}
	})
	b.Run("four-at-a-time", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < n; i += 4 {
				s0, s1, s2, s3 := dot4(q, vec(i), vec(i+1), vec(i+2), vec(i+3))
				sink += s0 + s1 + s2 + s3
			}
		}
	})
	_ = sink
}

// TestVectorIndex_CountsWhatItAllocates: the bytes the index counts
// against its bound cover every float it allocated, also when each node
// has an embedding of its own dimension.
func TestVectorIndex_CountsWhatItAllocates(t *testing.T) {
	ctx := context.Background()
	s := openSearchStore(t, filepath.Join(t.TempDir(), "graph.db"), Options{})
	for d := 1; d <= 60; d++ {
		v := make([]float32, d)
		v[0] = 1
		if err := s.UpsertNode(ctx, Node{ID: "n" + strconv.Itoa(d), Type: "doc", Embedding: v}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 600 { // more than one chunk of dimension 8
		v := []float32{1, 2, 3, 4, 5, 6, 7, float32(i)}
		if err := s.UpsertNode(ctx, Node{ID: "m" + strconv.Itoa(i), Type: "doc", Embedding: v}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SearchByVector(ctx, []float32{1, 0, 0}, SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	x, _ := s.vectorIndex()
	var floats int64
	for _, vs := range x.sets {
		for _, c := range vs.chunks {
			floats += int64(cap(c))
		}
	}
	if floats*4 > x.bytes || x.bytes > 64<<10 {
		t.Errorf("the index allocated %d bytes of floats and counted %d in all; want every allocated byte counted, and under 64 KiB", floats*4, x.bytes)
	}
}

// TestVectorIndex_ClosedWithItsStore: Store.Close closes the index's
// connection with the others, so the last close removes the -wal, and a
// search afterwards is ErrClosed.
func TestVectorIndex_ClosedWithItsStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s, err := Open(ctx, path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertNode(ctx, Node{ID: "a", Type: "doc", Embedding: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SearchByVector(ctx, []float32{1}, SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	x, err := s.vectorIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	closed := x.closed && x.conn == nil && x.sets == nil
	x.mu.Unlock()
	if !closed {
		t.Error("the index is still open after Store.Close")
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-wal after Close: %v, want it removed by the last close", err)
	}
	if _, err := s.SearchByVector(ctx, []float32{1}, SearchOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("search after Close = %v, want ErrClosed", err)
	}
}
