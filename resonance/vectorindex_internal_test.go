package resonance

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func openSearchStore(t *testing.T, path string, o Options) *Store {
	t.Helper()
	o.Create = true
	s, err := Open(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// searchedStore opens a store on a new database at path, writes node a
// with an embedding of one float and searches it once; the caller closes
// it.
func searchedStore(t *testing.T) (s *Store, path string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "graph.db")
	s, err := Open(ctx, path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.UpsertNode(ctx, Node{ID: "a", Type: "doc", Embedding: []float32{1}})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SearchByVector(ctx, []float32{1}, SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	return s, path
}

// randomNodes returns n nodes, n0 to n(n-1), of type doc, each with an
// embedding of dim normal floats drawn from rng.
func randomNodes(rng *rand.Rand, n, dim int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		nodes[i] = Node{ID: "n" + strconv.Itoa(i), Type: "doc", Embedding: v}
	}
	return nodes
}

// upsertNodes writes nodes through s in one transaction.
func upsertNodes(t *testing.T, s *Store, nodes []Node) {
	t.Helper()
	if err := s.Tx(context.Background(), func(ctx context.Context, tx *Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
}

// TestVectorIndex_ReadsEmbeddingsOnlyAfterAChange: searches of an
// unchanged database score the copy in memory; a commit by another
// connection makes the next search read the embeddings again, once.
func TestVectorIndex_ReadsEmbeddingsOnlyAfterAChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{})
	other := openSearchStore(t, path, Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.UpsertNode(ctx, Node{ID: "a", Type: "doc", Embedding: []float32{1, 0}})
	}); err != nil {
		t.Fatal(err)
	}
	q := []float32{1, 1}
	search := func() {
		t.Helper()
		if _, err := s.SearchByVector(ctx, q, SearchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (loads, catchUps int) {
		x, _ := s.vectorIndex()
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.loads, x.catchUps
	}
	for range 5 {
		search()
	}
	if l, c := counts(); l != 1 || c != 0 {
		t.Fatalf("5 searches of an unchanged database: %d whole reads and %d catch-ups, want 1 and 0", l, c)
	}
	if err := other.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.UpsertNode(ctx, Node{ID: "b", Type: "doc", Embedding: []float32{0, 1}})
	}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		search()
	}
	if l, c := counts(); l != 1 || c != 1 {
		t.Fatalf("after one commit by another store, 3 searches: %d whole reads and %d catch-ups, want 1 and 1", l, c)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.UpsertNode(ctx, Node{ID: "c", Type: "doc", Embedding: []float32{0, 1}})
	}); err != nil {
		t.Fatal(err)
	}
	// A commit that changes no embedding, domain or type names no row.
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
		return tx.UpsertNode(ctx, Node{ID: "c", Type: "doc", Title: "new title", Embedding: []float32{0, 1}})
	}); err != nil {
		t.Fatal(err)
	}
	search()
	search()
	if l, c := counts(); l != 1 || c != 2 {
		t.Fatalf("after commits by the same store, 2 searches: %d whole reads and %d catch-ups, want 1 and 2", l, c)
	}
	// Plain SQL on nodes by another program is caught up the same way.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM nodes WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	res, err := s.SearchByVector(ctx, q, SearchOptions{K: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 2 || res.Hits[0].ID != "b" || res.Hits[1].ID != "c" {
		t.Fatalf("after a DELETE by plain SQL: hits %+v, want b and c", res.Hits)
	}
	if l, c := counts(); l != 1 || c != 3 {
		t.Fatalf("after a DELETE by plain SQL: %d whole reads and %d catch-ups, want 1 and 3", l, c)
	}
}

// TestVectorIndex_BoundHoldsAndDegrades: the copy, and what reading it
// allocates and keeps, stay within Options.VectorCacheBytes; the rows that
// do not fit are scanned by each search, whose answers stay those of a
// transaction's scan, also after writes.
func TestVectorIndex_BoundHoldsAndDegrades(t *testing.T) {
	ctx := context.Background()
	const bound = 1 << 20
	s := openSearchStore(t, filepath.Join(t.TempDir(), "graph.db"), Options{VectorCacheBytes: bound})
	rng := rand.New(rand.NewPCG(16, 16))
	vec := func() []float32 {
		v := make([]float32, 64)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	nodes := make([]Node, 20000) // 20,000 × 64 floats: 5 MB as float32, 1.7 MB as codes
	for i := range nodes {
		nodes[i] = Node{ID: "n" + strconv.Itoa(i), Type: "doc", Embedding: vec()}
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
	x, _ := s.vectorIndex()
	check := func(q []float32) {
		t.Helper()
		got, err := s.SearchByVector(ctx, q, SearchOptions{K: 20})
		if err != nil {
			t.Fatal(err)
		}
		var want SearchResult
		if err := s.Read(ctx, func(ctx context.Context, r *ReadTx) (err error) {
			want, err = r.SearchByVector(ctx, q, SearchOptions{K: 20})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("store's search %+v\nwant the transaction's %+v", got, want)
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	check(vec())
	runtime.GC()
	runtime.ReadMemStats(&after)
	x.mu.RLock()
	c := x.c
	x.mu.RUnlock()
	if c == nil || c.bytes > bound || c.upto == math.MaxInt64 || c.upto < 1000 {
		t.Fatalf("copy %v: want one within %d bytes holding part of the rows", c != nil, bound)
	}
	if kept := int64(after.HeapAlloc) - int64(before.HeapAlloc); kept > bound+256<<10 {
		t.Errorf("the first search keeps %d bytes of heap, want at most the bound %d and a little", kept, bound)
	}
	for i := range 5 {
		mustWrite := Node{ID: "n" + strconv.Itoa(i*997), Type: "doc", Embedding: vec()}
		if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.UpsertNode(ctx, mustWrite) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
			return tx.UpsertNode(ctx, Node{ID: "new" + strconv.Itoa(i), Type: "doc", Embedding: vec()})
		}); err != nil {
			t.Fatal(err)
		}
		check(vec())
	}
}

// TestVectorIndex_ClosedWithItsStore: Store.Close closes the index's
// connection with the others, so the last close removes the -wal, and a
// search afterwards is ErrClosed.
func TestVectorIndex_ClosedWithItsStore(t *testing.T) {
	ctx := context.Background()
	s, path := searchedStore(t)
	x, err := s.vectorIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	dropped := x.c == nil
	x.mu.Unlock()
	if err := x.pool.PingContext(ctx); err == nil || !dropped {
		t.Errorf("after Store.Close the index's copy is dropped: %v, its pool answers a ping with %v; want it closed", dropped, err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-wal after Close: %v, want it removed by the last close", err)
	}
	if _, err := s.SearchByVector(ctx, []float32{1}, SearchOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("search after Close = %v, want ErrClosed", err)
	}
}

// TestVectorIndex_ChangesBehindTheTriggers: a REPLACE deletes the row it
// replaces without the delete trigger (SQLite fires it only with
// recursive_triggers), and an application may drop the triggers: the
// searches stay those of a transaction's scan, by finding the copy stale
// or by scanning.
func TestVectorIndex_ChangesBehindTheTriggers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openSearchStore(t, path, Options{})
	for i := range 50 {
		v := []float32{float32(i), 1}
		if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
			return tx.UpsertNode(ctx, Node{ID: "n" + strconv.Itoa(i), Type: "doc", Embedding: v})
		}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	q := []float32{1, 0.5}
	check := func(step string) {
		t.Helper()
		got, err := s.SearchByVector(ctx, q, SearchOptions{K: 5})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var want SearchResult
		if err := s.Read(ctx, func(ctx context.Context, r *ReadTx) (err error) {
			want, err = r.SearchByVector(ctx, q, SearchOptions{K: 5})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: store's search %+v\nwant the transaction's %+v", step, got, want)
		}
	}
	check("before")
	// n49 scores best; REPLACE moves it to a new rowid with a low vector,
	// and the old rowid's row is gone without a node_changes row for it.
	if _, err := raw.Exec(`INSERT OR REPLACE INTO nodes (rowid, id, type, domain, embedding) VALUES (1000, 'n49', 'doc', 'knowledge', ?)`, mustEncode(t, []float32{0.001, 0})); err != nil {
		t.Fatal(err)
	}
	check("after a REPLACE")
	if _, err := raw.Exec(`DROP TRIGGER node_changes_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE nodes SET embedding = ? WHERE id = 'n3'`, mustEncode(t, []float32{1000, 0})); err != nil {
		t.Fatal(err)
	}
	check("after an update without the trigger")
}

func mustEncode(t *testing.T, v []float32) []byte {
	t.Helper()
	b, err := EncodeEmbedding(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectorIndex_ShortDeadlinesStillFillTheCopy: a search whose deadline
// ends while it reads the copy keeps what it read, and the next goes on
// from there: searches with deadlines shorter than a whole read fill the
// copy one after the other, and it is read whole only once.
func TestVectorIndex_ShortDeadlinesStillFillTheCopy(t *testing.T) {
	ctx := context.Background()
	s := openSearchStore(t, filepath.Join(t.TempDir(), "graph.db"), Options{})
	nodes := randomNodes(rand.New(rand.NewPCG(4, 4)), 30000, 32)
	upsertNodes(t, s, nodes)
	x, _ := s.vectorIndex()
	upto := func() int64 {
		x.mu.RLock()
		defer x.mu.RUnlock()
		if x.c == nil || x.c.upto == noRows {
			return 0 // no row read yet; the rowids here start at 1
		}
		return x.c.upto
	}
	q := nodes[0].Embedding
	prev, grew := int64(0), 0
	for range 500 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
		_, err := s.SearchByVector(cctx, q, SearchOptions{})
		cancel()
		u := upto()
		if u < prev {
			t.Fatalf("the copy shrank from rowid %d to %d", prev, u)
		}
		if u > prev {
			grew++
		}
		prev = u
		if err == nil && u == math.MaxInt64 {
			break
		}
	}
	if prev != math.MaxInt64 {
		t.Skipf("500 searches of 2ms read the copy up to rowid %d (a slow machine): nothing to conclude", prev)
	}
	x.mu.RLock()
	loads := x.loads
	x.mu.RUnlock()
	if loads != 1 {
		t.Errorf("the copy was read whole %d times, want once, then extended (%d searches made it grow)", loads, grew)
	}
	res, err := s.SearchByVector(ctx, q, SearchOptions{K: 1})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != "n0" {
		t.Fatalf("search after the copy filled: %+v, %v; want n0", res, err)
	}
}
