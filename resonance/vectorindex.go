package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// The vector index keeps a copy of every stored embedding in memory so
// that Store.SearchByVector does not read 30 MB of pages (20,000 × 384
// floats) for each query.
//
// Never stale. The index has a read-only connection of its own that never
// writes. Each search begins a read transaction on it and reads PRAGMA
// data_version, which changes when any other connection, of this process
// or another, has committed since the connection's previous read. When it
// has changed, the index reads the embeddings again in that same
// transaction; either way the search scores the copy, which is then
// exactly the transaction's snapshot, and reads its hits' title, meta and
// date in that snapshot too. A connection lost to an error is replaced,
// and its successor starts with no copy: the data_version values of two
// connections cannot be compared.
//
// Bounded. The copy holds, per node with an embedding, its floats (4 bytes
// each) and its id; the index counts what it allocates for them as it
// reads and stops at Options.VectorCacheBytes. Until the next change the
// searches then scan the database in their transaction (scanSearch), as
// they always do with a negative VectorCacheBytes. (So over the bound, the
// first search after a change reads up to the bound in vain before it
// scans.)
//
// Layout. Embeddings are grouped by dimension, each group in rowid order
// (the scan order that breaks ties), its floats in chunks of chunkVectors
// vectors: contiguous for the dot products, and only a dimension's first
// chunk grows by copying (so that a dimension with few vectors takes little
// room); the others are allocated whole. Domains and types are stored as
// small numbers.

// chunkVectors is how many vectors one chunk of a vectorSet holds.
const chunkVectors = 512

type vectorIndex struct {
	mu       sync.Mutex // held by each search: one at a time on conn
	path     string
	opts     Options // of the index's connection: read-only
	maxBytes int64   // Options.VectorCacheBytes

	pool *sql.DB   // one connection, opened on the first search
	conn *sql.Conn // pool's connection, held while the index is open

	loaded  bool  // sets is the database at data_version version
	tooBig  bool  // at version, the embeddings exceed maxBytes: searches scan
	version int64 // PRAGMA data_version of conn when sets was read
	sets    map[int]*vectorSet
	// unreadable holds the nodes whose stored embedding is not whole
	// float32 values (a length that is not a multiple of 4), skipped and
	// counted by every search that selects them.
	unreadable []vectorEntry
	names      []string          // domain and type names by number
	numbers    map[string]uint32 // the inverse of names
	bytes      int64             // what sets and names hold
	loads      int               // how many times the embeddings were read
	closed     bool
}

// vectorSet holds the embeddings of one dimension.
type vectorSet struct {
	dim     int
	entries []vectorEntry
	chunks  [][]float32
}

type vectorEntry struct {
	id          string
	domain, typ uint32 // numbers of vectorIndex.names
	zero        bool   // magnitude below 1e-6: scores 0
}

// entryBytes is what the index counts for an entry besides its id's bytes
// and its floats.
const entryBytes = int64(unsafe.Sizeof(vectorEntry{}))

// vec returns the vector of entry i.
func (vs *vectorSet) vec(i int) []float32 {
	c := vs.chunks[i/chunkVectors]
	j := (i % chunkVectors) * vs.dim
	return c[j : j+vs.dim : j+vs.dim]
}

// add appends an entry and returns the room for its vector and the bytes
// of floats it allocated. The first chunk grows as vectors come, so a
// dimension with few vectors takes little room; the others are allocated
// whole.
func (vs *vectorSet) add(e vectorEntry) (v []float32, allocated int64) {
	i := len(vs.entries)
	vs.entries = append(vs.entries, e)
	if i%chunkVectors == 0 {
		var c []float32
		if i > 0 {
			c = make([]float32, 0, chunkVectors*vs.dim)
			allocated = 4 * int64(cap(c))
		}
		vs.chunks = append(vs.chunks, c)
	}
	c := &vs.chunks[len(vs.chunks)-1]
	before := cap(*c)
	*c = slices.Grow(*c, vs.dim)
	if i < chunkVectors {
		allocated += 4 * int64(cap(*c)-before)
	}
	*c = (*c)[:len(*c)+vs.dim]
	return (*c)[len(*c)-vs.dim:], allocated
}

// errTooBig stops a load that would exceed maxBytes.
var errTooBig = errors.New("the embeddings exceed Options.VectorCacheBytes")

// vectorIndex returns the store's vector index, made on first use. Close
// closes it.
func (s *Store) vectorIndex() (*vectorIndex, error) {
	s.vindexMu.Lock()
	defer s.vindexMu.Unlock()
	if s.closed.Load() {
		return nil, fmt.Errorf("resonance: search by vector %q: %w", s.path, ErrClosed)
	}
	if s.vindex == nil {
		o := s.opts
		o.ReadOnly, o.Create = true, false
		s.vindex = &vectorIndex{path: s.path, opts: o, maxBytes: s.opts.VectorCacheBytes}
	}
	return s.vindex, nil
}

// closeVectorIndex closes the store's vector index, if it has one.
func (s *Store) closeVectorIndex() error {
	s.vindexMu.Lock()
	x := s.vindex
	s.vindex = nil
	s.vindexMu.Unlock()
	if x == nil {
		return nil
	}
	return x.close()
}

// close closes the index's connection and drops its copy; a search still
// running finishes first.
func (x *vectorIndex) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	x.drop()
	return x.closeConn()
}

func (x *vectorIndex) closeConn() error {
	var err error
	if x.conn != nil {
		err = x.conn.Close()
		x.conn = nil
	}
	if x.pool != nil {
		err = errors.Join(err, x.pool.Close())
		x.pool = nil
	}
	return err
}

// drop forgets the copy.
func (x *vectorIndex) drop() {
	x.loaded, x.tooBig = false, false
	x.sets, x.unreadable, x.names, x.numbers, x.bytes = nil, nil, nil, nil, 0
}

// connection returns the index's connection, opening it if needed.
func (x *vectorIndex) connection(ctx context.Context) (*sql.Conn, error) {
	if x.conn != nil {
		return x.conn, nil
	}
	c, err := newConnector(x.path, x.opts, "deferred")
	if err != nil {
		return nil, err
	}
	x.pool = oneConnPool(c)
	if x.conn, err = x.pool.Conn(ctx); err != nil {
		x.closeConn()
		return nil, classify(err)
	}
	return x.conn, nil
}

// search runs vq in a read transaction on the index's connection.
func (x *vectorIndex) search(ctx context.Context, vq *vectorQuery) (res SearchResult, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return SearchResult{}, fmt.Errorf("resonance: search by vector %q: %w", x.path, ErrClosed)
	}
	defer func() {
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrInvalid) {
			// The connection may be broken; a new one starts with no copy.
			x.drop()
			x.closeConn()
		}
	}()
	conn, err := x.connection(ctx)
	if err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector %q: %w", x.path, err)
	}
	// The transaction is not bound to ctx: database/sql would roll it back
	// from another goroutine when ctx ends, racing the statement the
	// search is running on the same connection and closing the connection
	// the index keeps. ctx interrupts the statements instead, and the
	// deferred Rollback always runs here.
	if err := ctx.Err(); err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector %q: %w", x.path, err)
	}
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector %q: begin: %w", x.path, classify(err))
	}
	defer tx.Rollback() // it only read
	// data_version reads the database header, which begins the
	// transaction's snapshot: the value is that snapshot's.
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector %q: data_version: %w", x.path, classify(err))
	}
	if !x.loaded || version != x.version {
		x.drop()
		if err := x.load(ctx, tx); errors.Is(err, errTooBig) {
			x.drop()
			x.tooBig = true
		} else if err != nil {
			x.drop()
			return SearchResult{}, err
		}
		x.loaded, x.version = true, version
	}
	if x.tooBig {
		return scanSearch(ctx, tx, vq)
	}
	best, skipped := x.score(vq)
	res.Skipped = skipped
	if res.Hits, err = hitDetails(ctx, tx, best); err != nil {
		return SearchResult{}, err
	}
	return res, nil
}

// load reads every stored embedding through tx, or returns errTooBig as
// soon as they need more than maxBytes.
func (x *vectorIndex) load(ctx context.Context, tx *sql.Tx) error {
	if x.maxBytes < 0 {
		return errTooBig
	}
	x.loads++
	rows, err := listEmbeddings(ctx, tx, "", "")
	if err != nil {
		return fmt.Errorf("resonance: search by vector: read embeddings: %w", err)
	}
	defer rows.Close()
	x.sets = map[int]*vectorSet{}
	x.numbers = map[string]uint32{}
	var id, domain, typ, blob sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &domain, &typ, &blob); err != nil {
			return fmt.Errorf("resonance: search by vector: read embeddings: %w", classify(err))
		}
		if len(blob)%4 != 0 {
			x.unreadable = append(x.unreadable, vectorEntry{id: string(id), domain: x.number(domain), typ: x.number(typ)})
			if x.bytes += entryBytes + int64(len(id)); x.bytes > x.maxBytes {
				return errTooBig
			}
			continue
		}
		dim := len(blob) / 4
		vs := x.sets[dim]
		if vs == nil {
			vs = &vectorSet{dim: dim}
			x.sets[dim] = vs
		}
		v, allocated := vs.add(vectorEntry{id: string(id), domain: x.number(domain), typ: x.number(typ)})
		if x.bytes += entryBytes + int64(len(id)) + allocated; x.bytes > x.maxBytes {
			return errTooBig
		}
		// NaN or ±Inf, written by another program, scores nothing, as in
		// the original (a NaN score is not above 0).
		vs.entries[len(vs.entries)-1].zero = decodeInto(v, blob) != nil || magnitude(v) < minMagnitude
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resonance: search by vector: read embeddings: %w", classify(err))
	}
	return nil
}

// number returns the number of a domain or type name, adding it if new.
func (x *vectorIndex) number(name []byte) uint32 {
	if n, ok := x.numbers[string(name)]; ok {
		return n
	}
	n := uint32(len(x.names))
	s := string(name)
	x.names = append(x.names, s)
	x.numbers[s] = n
	x.bytes += int64(len(s))
	return n
}

// anyNumber means "no filter" in place of a name's number.
const anyNumber = ^uint32(0)

// filterNumber returns the number of a filter name ("" is anyNumber), and
// false when no node has that name.
func (x *vectorIndex) filterNumber(name string) (uint32, bool) {
	if name == "" {
		return anyNumber, true
	}
	n, ok := x.numbers[name]
	return n, ok
}

// score returns the best candidates of the copy and how many entries the
// filters select whose dimension is not the query's.
func (x *vectorIndex) score(vq *vectorQuery) ([]scored, int) {
	domain, okd := x.filterNumber(vq.domain)
	typ, okt := x.filterNumber(vq.typ)
	if !okd || !okt {
		return nil, 0
	}
	selected := func(e *vectorEntry) bool {
		return (domain == anyNumber || e.domain == domain) && (typ == anyNumber || e.typ == typ)
	}
	skipped := 0
	for i := range x.unreadable {
		if selected(&x.unreadable[i]) {
			skipped++
		}
	}
	for dim, vs := range x.sets {
		if dim == vq.dim() {
			continue
		}
		if domain == anyNumber && typ == anyNumber {
			skipped += len(vs.entries)
			continue
		}
		for i := range vs.entries {
			if selected(&vs.entries[i]) {
				skipped++
			}
		}
	}
	vs := x.sets[vq.dim()]
	if vs == nil {
		return nil, skipped
	}
	top := topK{k: vq.k}
	offer := func(i int, s float64) {
		if vq.hit(s) && top.admits(s, i) {
			top.offer(scored{score: s, seq: i, id: vs.entries[i].id})
		}
	}
	// Candidates go four at a time through dot4, then one at a time; each
	// is offered in scan order.
	var batch [4]int
	n := 0
	for i := range vs.entries {
		e := &vs.entries[i]
		if e.zero || !selected(e) {
			continue
		}
		batch[n] = i
		if n++; n < len(batch) {
			continue
		}
		n = 0
		sa, sb, sc, sd := dot4(vq.q, vs.vec(batch[0]), vs.vec(batch[1]), vs.vec(batch[2]), vs.vec(batch[3]))
		offer(batch[0], sa)
		offer(batch[1], sb)
		offer(batch[2], sc)
		offer(batch[3], sd)
	}
	for _, i := range batch[:n] {
		offer(i, dot(vq.q, vs.vec(i)))
	}
	return top.best(), skipped
}
