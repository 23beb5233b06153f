package resonance

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// snapshotGraph writes n nodes with embeddings of 24 floats (every 50th of
// 16, every 97th a blob that is not whole floats), in three domains and
// two types, and returns a function making random queries.
func snapshotGraph(t *testing.T, s *Store, n int) func() []float32 {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(23, 7))
	vec := func(d int) []float32 {
		v := make([]float32, d)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	nodes := make([]Node, n)
	for i := range nodes {
		d := 24
		if i%50 == 0 {
			d = 16
		}
		nodes[i] = Node{ID: "n" + strconv.Itoa(i), Type: []string{"doc", "note"}[i%2],
			Domain: []string{"a", "b", "c"}[i%3], Embedding: vec(d)}
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 97 {
		if _, err := s.DB().Exec(`UPDATE nodes SET embedding = x'0102030405' WHERE id = ?`, "n"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// An empty blob, and rows of rowid 0 and below, which another program
	// may insert.
	for _, stmt := range []string{
		`UPDATE nodes SET embedding = x'' WHERE id = 'n6'`,
		`UPDATE nodes SET domain = CAST('b' AS BLOB) WHERE id = 'n22'`,
		`UPDATE nodes SET type = CAST('note' AS BLOB) WHERE id = 'n25'`,
		`INSERT INTO nodes (rowid, id, type, title, domain, embedding) SELECT -7, 'below', 'note', '', 'b', embedding FROM nodes WHERE id = 'n7'`,
		`INSERT INTO nodes (rowid, id, type, title, domain, embedding) SELECT 0, 'zero', 'doc', '', 'a', embedding FROM nodes WHERE id = 'n12'`,
	} {
		if _, err := s.DB().Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return func() []float32 { return vec(24) }
}

// checkSearches compares s's searches, for several K and filters, with a
// scan of a transaction's snapshot.
func checkSearches(t *testing.T, s *Store, query func() []float32) {
	t.Helper()
	for i, o := range []SearchOptions{{K: 1}, {K: 10}, {K: 50, Domain: "b"}, {K: 1000, Type: "note"}, {K: 10, Domain: "c", Type: "doc"}} {
		q := query()
		if i == 0 {
			q = q[:16]
		}
		checkSearch(t, s, q, o, "the store's")
	}
}

// checkSearch compares s's search for q with a scan of a transaction's
// snapshot; what says which path the search takes.
func checkSearch(t *testing.T, s *Store, q []float32, o SearchOptions, what string) {
	t.Helper()
	ctx := context.Background()
	got, err := s.SearchByVector(ctx, q, o)
	if err != nil {
		t.Fatal(err)
	}
	var want SearchResult
	if err := s.Read(ctx, func(ctx context.Context, r *ReadTx) (err error) {
		want, err = r.SearchByVector(ctx, q, o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s search %+v: %+v\nwant the transaction's scan %+v", what, o, got, want)
	}
}

// writeSnapshotNow makes s's first search and waits for the snapshot it
// starts.
func writeSnapshotNow(t *testing.T, s *Store, query func() []float32) *vectorIndex {
	t.Helper()
	x, _ := s.vectorIndex()
	x.partBytes = 16 << 10 // many parts
	checkSearches(t, s, query)
	x.snapWG.Wait()
	if x.snapshotWrites.Load() != 1 {
		t.Fatalf("%d snapshots written after a store read the copy whole, want 1", x.snapshotWrites.Load())
	}
	return x
}

// snapshotted writes snapshotGraph's n nodes through a read-write store a
// of a new database at path, and a snapshot of its copy.
func snapshotted(t *testing.T, n int) (path string, a *Store, query func() []float32, x *vectorIndex) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "graph.db")
	a = openSearchStore(t, path, Options{})
	query = snapshotGraph(t, a, n)
	return path, a, query, writeSnapshotNow(t, a, query)
}

// counts returns how s's index got its copy, once the copy that a search
// answered from the snapshot started is built.
func counts(s *Store) (loads, fromSnapshot, catchUps int) {
	x, _ := s.vectorIndex()
	x.buildWG.Wait()
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.loads, x.snapshotLoads, x.catchUps
}

// TestVectorSnapshot_NewStoreStartsFromIt: a store that read the copy
// whole writes a snapshot; another store's first search starts from it
// instead of reading the embeddings, then catches up on what changed since
// by plain SQL (updates, deletes, inserts, another dimension, other
// labels), and answers as a scan does.
func TestVectorSnapshot_NewStoreStartsFromIt(t *testing.T) {
	path, _, query, _ := snapshotted(t, 3000)

	b := openSearchStore(t, path, Options{ReadOnly: true})
	checkSearches(t, b, query)
	if l, f, c := counts(b); l != 0 || f != 1 || c != 0 {
		t.Fatalf("a new store's searches: %d whole reads, %d from the snapshot, %d catch-ups; want 0, 1, 0", l, f, c)
	}

	writeBehind(t, path)
	c := openSearchStore(t, path, Options{ReadOnly: true})
	checkSearches(t, c, query)
	if l, f, cu := counts(c); l != 0 || f != 1 || cu != 1 {
		t.Fatalf("after writes by plain SQL, a new store: %d whole reads, %d from the snapshot, %d catch-ups; want 0, 1, 1", l, f, cu)
	}
	checkSearches(t, b, query) // and the store that loaded it before
}

// writeBehind changes the graph at path by plain SQL: updates, deletes,
// inserts, another dimension, other labels, embeddings removed or made
// unreadable.
func writeBehind(t *testing.T, path string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range []string{
		`UPDATE nodes SET embedding = (SELECT embedding FROM nodes WHERE id = 'n1') WHERE id = 'n2'`,
		`UPDATE nodes SET embedding = (SELECT embedding FROM nodes WHERE id = 'n50') WHERE id = 'n2999'`, // to 16 floats, the last row
		`UPDATE nodes SET domain = 'b', type = 'doc' WHERE id IN ('n3', 'n5', 'n2999')`,
		`UPDATE nodes SET type = 'new type' WHERE id = 'n11'`,
		`DELETE FROM nodes WHERE id IN ('n4', 'n97', 'n2998')`,
		`UPDATE nodes SET embedding = NULL WHERE id = 'n8'`,
		`UPDATE nodes SET embedding = x'00' WHERE id = 'n9'`,
		`INSERT INTO nodes (id, type, title, domain, embedding) SELECT 'new', 'note', '', 'b', embedding FROM nodes WHERE id = 'n13'`,
		`UPDATE nodes SET embedding = x'' WHERE id = 'n15'`,
		`UPDATE nodes SET domain = CAST('c' AS BLOB), type = CAST('doc' AS BLOB) WHERE id = 'n26'`,
		`UPDATE nodes SET embedding = (SELECT embedding FROM nodes WHERE id = 'n16') WHERE id = 'below'`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// TestVectorSnapshot_FirstSearchScoresItPartByPart: a new store's first
// search answers from the snapshot's parts without building the copy, as
// a scan does (hits, scores and Skipped) for every K and filter, also
// after writes by plain SQL since the snapshot, whose rows it scores from
// nodes; the copy is then built in the background, from the snapshot.
func TestVectorSnapshot_FirstSearchScoresItPartByPart(t *testing.T) {
	ctx := context.Background()
	path, a, query, _ := snapshotted(t, 3000)
	for _, behind := range []bool{false, true} {
		if behind {
			writeBehind(t, path)
			// A row inserted below every rowid: the copy cannot catch up
			// on it (it reads the copy whole), the first search can.
			if _, err := a.DB().Exec(`INSERT INTO nodes (rowid, id, type, title, domain, embedding) SELECT -3, 'newbelow', 'doc', '', 'c', embedding FROM nodes WHERE id = 'n14'`); err != nil {
				t.Fatal(err)
			}
		}
		b := openSearchStore(t, path, Options{ReadOnly: true})
		x, _ := b.vectorIndex()
		for i, o := range []SearchOptions{{K: 1}, {K: 10}, {K: 50, Domain: "b"}, {K: 1000, Type: "note"}, {K: 10, Domain: "c", Type: "doc"}, {K: 1000, MinScore: 3}, {K: 5, Type: "new type"}} {
			q := query()
			if i == 0 {
				q = q[:16]
			}
			vq, err := newVectorQuery(q, o)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := x.pool.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, schema, err := x.hasChangeTriggers(ctx, tx)
			var first, last sql.NullInt64
			if err == nil {
				err = tx.QueryRowContext(ctx, nodeChangesRange).Scan(&first, &last)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := x.streamSearch(ctx, tx, vq, first, last.Int64, schema)
			if err != nil {
				t.Fatal(err)
			}
			want, err := scanSearch(ctx, tx, vq)
			tx.Rollback()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Fatalf("writes behind %v, search %+v: not answered from the snapshot", behind, o)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("writes behind %v, search %+v from the snapshot: %+v\nwant the transaction's scan %+v", behind, o, got, want)
			}
		}
		checkSearches(t, b, query)
		wantLoads := 0
		if behind {
			wantLoads = 1
		}
		if l, f, _ := counts(b); l != wantLoads || f != 1 || x.streams.Load() != 1 || x.pool.Stats().InUse != 0 {
			t.Fatalf("writes behind %v: %d whole reads, %d copies from the snapshot, %d searches from its parts, %d connections in use; want %d, 1, 1, 0",
				behind, l, f, x.streams.Load(), x.pool.Stats().InUse, wantLoads)
		}
	}
}

// TestVectorSnapshot_NotUsedWhenItCannotBe: a snapshot older than
// node_changes' first seq, taken under another schema_version, or damaged
// is not used: the copy is read whole, and the answers stay a scan's.
func TestVectorSnapshot_NotUsedWhenItCannotBe(t *testing.T) {
	for name, spoil := range map[string]string{
		"pruned":  `DELETE FROM node_changes WHERE seq <= (SELECT seq FROM vector_snapshot) + 1`,
		"schema":  `CREATE INDEX app_index ON nodes (title)`,
		"damaged": `UPDATE vector_snapshot_parts SET data = substr(data, 1, 100) || x'07' || substr(data, 102) WHERE part = 3`,
		"missing": `DELETE FROM vector_snapshot_parts WHERE part = 2`,
	} {
		t.Run(name, func(t *testing.T) {
			path, _, query, _ := snapshotted(t, 1000)
			raw, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, stmt := range []string{`UPDATE nodes SET embedding = NULL WHERE id IN ('n1', 'n2')`, spoil} {
				if _, err := raw.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			b := openSearchStore(t, path, Options{ReadOnly: true})
			checkSearches(t, b, query)
			if l, f, _ := counts(b); l != 1 || f != 0 {
				t.Fatalf("%d whole reads, %d from the snapshot; want 1 and 0", l, f)
			}
		})
	}
}

// TestVectorSnapshot_HalfWrittenIgnored: a snapshot stopped half-way (its
// ctx cancelled, as by Close) publishes nothing: a new store starts from
// the last one published, or reads the copy whole without one; the next
// snapshot published drops it.
func TestVectorSnapshot_HalfWrittenIgnored(t *testing.T) {
	ctx := context.Background()
	path, a, query, x := snapshotted(t, 2000)

	half, cancel := context.WithCancel(ctx)
	x.afterSnapshotPart = func(part int) {
		if part == 2 {
			cancel()
		}
	}
	if err := x.writeSnapshot(half, x.c); err == nil {
		t.Fatal("a snapshot whose ctx ended after its second part: no error")
	}
	x.afterSnapshotPart = nil
	var gens, published, parts int
	if err := a.ReadDB().QueryRow(`SELECT count(*), sum(published), (SELECT count(*) FROM vector_snapshot_parts WHERE generation = 2) FROM vector_snapshot`).Scan(&gens, &published, &parts); err != nil {
		t.Fatal(err)
	}
	if gens != 2 || published != 1 || parts != 2 {
		t.Fatalf("after a snapshot cancelled after 2 parts: %d generations, %d published, %d parts of the second; want 2, 1, 2", gens, published, parts)
	}
	b := openSearchStore(t, path, Options{ReadOnly: true})
	checkSearches(t, b, query)
	if l, f, _ := counts(b); l != 0 || f != 1 {
		t.Fatalf("beside a half-written snapshot: %d whole reads, %d from the snapshot; want 0 and 1 (the published one)", l, f)
	}

	if _, err := a.DB().Exec(`DELETE FROM vector_snapshot WHERE published = 1`); err != nil {
		t.Fatal(err)
	}
	c := openSearchStore(t, path, Options{ReadOnly: true})
	checkSearches(t, c, query)
	if l, f, _ := counts(c); l != 1 || f != 0 {
		t.Fatalf("with only a half-written snapshot: %d whole reads, %d from the snapshot; want 1 and 0", l, f)
	}

	if err := x.writeSnapshot(ctx, x.c); err != nil {
		t.Fatal(err)
	}
	if err := a.ReadDB().QueryRow(`SELECT count(*), sum(published), (SELECT count(*) FROM vector_snapshot_parts WHERE generation < 3) FROM vector_snapshot`).Scan(&gens, &published, &parts); err != nil {
		t.Fatal(err)
	}
	if gens != 1 || published != 1 || parts != 0 {
		t.Fatalf("after the next snapshot: %d generations, %d published, %d parts of older ones; want 1, 1, 0", gens, published, parts)
	}
}

// TestVectorSnapshot_WrittenOnlyWhenItCanBe: a read-only store and one
// that keeps no copy write no snapshot; a read-write store's Close waits
// for the one it is writing; a store whose copy caught up on many rows
// writes a new one.
func TestVectorSnapshot_WrittenOnlyWhenItCanBe(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	a := openSearchStore(t, path, Options{})
	query := snapshotGraph(t, a, 10000)
	published := func() (n int) {
		t.Helper()
		if err := a.ReadDB().QueryRow(`SELECT count(*) FROM vector_snapshot WHERE published = 1`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, o := range []Options{{ReadOnly: true}, {VectorCacheBytes: -1}} {
		s := openSearchStore(t, path, o)
		checkSearches(t, s, query)
		if x, _ := s.vectorIndex(); x.snapshotWrites.Load() != 0 || published() != 0 {
			t.Fatalf("a store opened with %+v wrote a snapshot", o)
		}
	}
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSearches(t, s, query)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if published() != 1 {
		t.Fatal("a read-write store searched, then closed at once: no snapshot published")
	}

	b := openSearchStore(t, path, Options{})
	checkSearches(t, b, query) // from the snapshot
	x, _ := b.vectorIndex()
	var nodes []Node
	for i := range snapshotEvery + 1 {
		nodes = append(nodes, Node{ID: "more" + strconv.Itoa(i), Type: "doc", Embedding: query()})
	}
	if err := b.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
	checkSearches(t, b, query)
	x.snapWG.Wait()
	if l, f, c := counts(b); l != 0 || f != 1 || c != 1 || x.snapshotWrites.Load() != 1 {
		t.Fatalf("after catching up on %d rows: %d whole reads, %d from the snapshot, %d catch-ups, %d snapshots written; want 0, 1, 1, 1",
			len(nodes), l, f, c, x.snapshotWrites.Load())
	}
	d := openSearchStore(t, path, Options{ReadOnly: true})
	checkSearches(t, d, query)
	if l, f, c := counts(d); l != 0 || f != 1 || c != 0 {
		t.Fatalf("a store after the new snapshot: %d whole reads, %d from the snapshot, %d catch-ups; want 0, 1, 0", l, f, c)
	}
}

// TestVectorSnapshot_CloseBesideAnOpenTransaction: Close, while a
// snapshot waits for the writer that a transaction left open holds,
// cancels the snapshot (nothing published) and reports the leak.
func TestVectorSnapshot_CloseBesideAnOpenTransaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s, err := Open(ctx, path, Options{Create: true, BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	query := snapshotGraph(t, s, 1000)
	x, _ := s.vectorIndex()
	x.partBytes = 16 << 10
	started, resume := make(chan struct{}), make(chan struct{})
	x.afterSnapshotPart = func(part int) {
		if part == 1 {
			close(started)
			<-resume
		}
	}
	if _, err := s.SearchByVector(ctx, query(), SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	<-started
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	close(resume)
	if err := s.Close(); !errors.Is(err, ErrLeakedConnections) {
		t.Fatalf("Close beside an open transaction: %v, want ErrLeakedConnections", err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var published int
	if err := raw.QueryRow(`SELECT count(*) FROM vector_snapshot WHERE published = 1`).Scan(&published); err != nil {
		t.Fatal(err)
	}
	if published != 0 {
		t.Fatalf("%d snapshots published, want none", published)
	}
}

// TestVectorSnapshot_OutlivesItsStore: the snapshot a new database's
// store wrote is used after that store's Close and another store's Open
// and Close (whose PRAGMA optimize may run ANALYZE).
func TestVectorSnapshot_OutlivesItsStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	for round := range 3 {
		s, err := Open(ctx, path, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			query := snapshotGraph(t, s, 3000)
			if _, err := s.SearchByVector(ctx, query(), SearchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := openSearchStore(t, path, Options{ReadOnly: true})
	if _, err := s.SearchByVector(ctx, make([]float32, 24), SearchOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	q := make([]float32, 24)
	q[0] = 1
	if _, err := s.SearchByVector(ctx, q, SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	if l, f, _ := counts(s); l != 0 || f != 1 {
		t.Fatalf("after the store that wrote it closed, and another opened and closed: %d whole reads, %d from the snapshot; want 0 and 1", l, f)
	}
}

// TestVectorSnapshot_BoundHolds: a store whose VectorCacheBytes is
// smaller than a snapshot reads the copy up to its bound instead, and
// answers as a scan does.
func TestVectorSnapshot_BoundHolds(t *testing.T) {
	path, _, query, _ := snapshotted(t, 3000)
	const bound = 64 << 10
	b := openSearchStore(t, path, Options{ReadOnly: true, VectorCacheBytes: bound})
	checkSearches(t, b, query)
	x, _ := b.vectorIndex()
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.loads != 1 || x.snapshotLoads != 0 || x.c == nil || x.c.bytes > bound || !x.c.full {
		t.Fatalf("%d whole reads, %d from the snapshot, copy of %d bytes: want the copy read up to the bound %d", x.loads, x.snapshotLoads, x.c.bytes, bound)
	}
}

// TestVectorSnapshot_FirstSearchCancelledOrClosed: a first search from the
// snapshot cancelled at any point, and a Close while the copy is being
// built after one, leave nothing behind: the next search answers as a
// scan, and Close reports no connection in use.
func TestVectorSnapshot_FirstSearchCancelledOrClosed(t *testing.T) {
	ctx := context.Background()
	path, _, query, _ := snapshotted(t, 3000)
	cancelled := 0
	for i := range 24 {
		s, err := Open(ctx, path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		x, _ := s.vectorIndex()
		short, cancel := context.WithTimeout(ctx, time.Duration(i)*100*time.Microsecond)
		_, err = s.SearchByVector(short, query(), SearchOptions{K: 10})
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded):
			cancelled++
		default:
			t.Fatalf("a search whose ctx ended: %v", err)
		}
		if i%2 == 0 {
			checkSearches(t, s, query)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close after a first search (ended: %v) and %d more: %v", err != nil, 5*(1-i%2), err)
		}
		if x.c != nil || x.built != nil || x.pool.Stats().InUse != 0 {
			t.Fatalf("after Close: copy kept %v, still building %v, %d search connections in use", x.c != nil, x.built != nil, x.pool.Stats().InUse)
		}
	}
	if cancelled == 0 {
		t.Fatal("no first search was cancelled: the deadlines were all too long to test anything")
	}
}

// TestVectorSnapshot_WaitForTheCopyWithinCtx: while the copy is read in the
// background after a first search, a search whose ctx ends first returns
// its ctx's error instead of waiting for the copy; Close stops the read at
// once, leaving no copy and no connection in use.
func TestVectorSnapshot_WaitForTheCopyWithinCtx(t *testing.T) {
	ctx := context.Background()
	path, _, query, _ := snapshotted(t, 1000)
	s, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.vectorIndex()
	started := make(chan struct{})
	x.beforeBuild = func(ctx context.Context) {
		close(started)
		<-ctx.Done() // until Close
	}
	if _, err := s.SearchByVector(ctx, query(), SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	<-started
	done := make(chan error, 1)
	go func() {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := s.SearchByVector(short, query(), SearchOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a search whose ctx ended while the copy was read: %v, want DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a search whose ctx ended after 50 ms still waits for the copy after 10 s")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if x.c != nil || x.built != nil || x.pool.Stats().InUse != 0 {
		t.Fatalf("after Close: copy kept %v, still building %v, %d search connections in use", x.c != nil, x.built != nil, x.pool.Stats().InUse)
	}
}

// TestVectorIndex_BlobLabelsSelectedAsInSQL: a domain or type that another
// program stored as a blob equals no text in SQL, so a scan's filters never
// select its row; the copy, the snapshot and the rows changed since it
// agree, without reading the copy again. The rows are the best for the
// query, so a path that selected them would answer differently, or find
// its copy stale.
func TestVectorIndex_BlobLabelsSelectedAsInSQL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.db")
	a := openSearchStore(t, path, Options{})
	q := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	nodes := append(randomNodes(rand.New(rand.NewPCG(3, 9)), 300, len(q)), Node{ID: "top", Type: "doc", Embedding: q}, Node{ID: "later", Type: "doc", Embedding: q})
	for i := range nodes {
		nodes[i].Domain = "b"
	}
	upsertNodes(t, a, nodes)
	if _, err := a.DB().Exec(`UPDATE nodes SET domain = CAST('b' AS BLOB), type = CAST('doc' AS BLOB) WHERE id = 'top'`); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, what string) {
		t.Helper()
		for _, o := range []SearchOptions{{K: 3}, {K: 3, Domain: "b"}, {K: 3, Type: "doc"}} {
			checkSearch(t, s, q, o, what+":")
		}
	}
	check(a, "the copy")
	x, _ := a.vectorIndex()
	x.snapWG.Wait()
	if _, err := a.DB().Exec(`UPDATE nodes SET domain = CAST('b' AS BLOB) WHERE id = 'later'`); err != nil {
		t.Fatal(err)
	}
	b := openSearchStore(t, path, Options{ReadOnly: true})
	check(b, "a new store, from the snapshot and a row changed since")
	check(a, "the copy caught up")
	for _, s := range []*Store{a, b} {
		if l, _, _ := counts(s); l > 1 {
			t.Fatalf("%d whole reads of the copy: a search found it stale", l)
		}
	}
	if y, _ := b.vectorIndex(); y.streams.Load() != 1 {
		t.Fatalf("%d searches from the snapshot's parts, want 1", y.streams.Load())
	}
}
