package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/resonance-graph/resonancedb/internal/vecindex"
)

// The vector index keeps a compact copy of the stored embeddings in memory
// (internal/vecindex: int8 codes and a scale per vector, about a quarter of
// the float32 values, plus the node's rowid, domain and type) so that
// Store.SearchByVector neither reads every embedding from the database for
// each query nor keeps them all as floats.
//
// Exact. The copy gives each score a proven lower and upper bound; the
// candidates whose upper bound reaches the k-th best lower bound are scored
// again from their float32 embedding, read by rowid in the search's own
// read transaction, best upper bound first, until no candidate left can
// reach the k-th exact score. The answer is D10's exactly: the float32
// scores, ties in rowid order. A candidate whose stored row disagrees with
// the copy (gone, another dimension, domain or type, or a score outside its
// bounds: a change the copy missed) marks the copy stale, and the search
// starts again on a copy read whole.
//
// Never stale, and live. The migration 20261207100000 adds node_changes,
// which triggers on nodes fill in the transaction of every change, whoever
// makes it (the library, another process, an application's own SQL): the
// rowid of each row inserted, deleted, or whose embedding, domain, type or
// rowid changed. Each search begins a read transaction on a connection of
// the index's own read-only pool and reads the last seq of node_changes in
// that snapshot. When the copy was taken at that seq it is the snapshot's;
// when it is older, the rows named since are read again by rowid (a write
// of one node costs the next search one lookup); when it is newer (another
// search caught up to a later commit), the search takes a new snapshot.
// Without a copy, a search answers from the snapshot of the copy kept in
// the database when there is one it can use, scoring it part by part
// without keeping it, and hands its transaction to buildCopy, which reads
// the copy from that snapshot in the background while the searches after
// it wait (vectorsnapshot.go). The copy is read whole on a first search
// without one (a search whose ctx ends while it reads keeps the rows read
// so far, and the next goes on from there), when the changes since it were
// pruned from node_changes (it keeps about the last 2^20), when more rows
// changed than it holds, when a changed row cannot stay in rowid order (an
// embedding moved to another dimension before the last row of that
// dimension), and when a search found it stale. A database without the
// triggers (dropped, or a read-only store on a database whose migrations
// are pending) is searched by a scan of its transaction, as ReadTx does.
//
// Bounded. Options.VectorCacheBytes bounds what the copy holds; its parts
// are allocated whole (internal/vecindex's chunks), so the bound holds while
// it is read too, and a collection after every eighth of the bound read
// frees the rows the driver allocated (loadSlack). The rows that do not fit, the last ones in rowid order,
// are scored by each search from the database in its transaction: the cost
// grows with the part that does not fit, never a switch to a full scan.
// Negative keeps no copy: every search scans.
//
// Concurrent. Searches score the copy under a read lock, each with its own
// connection and transaction; the copy is changed (read whole or caught up)
// under the write lock, by one search, or buildCopy, while the others wait
// for it. Searches from the snapshot take no lock. Scoring is spread over
// GOMAXPROCS goroutines.

type vectorIndex struct {
	path     string
	maxBytes int64 // Options.VectorCacheBytes

	pool *sql.DB // the Store's search pool

	mu    sync.RWMutex // searches read c under RLock; it changes under Lock
	c     *vectorCopy  // nil until the first search
	stale atomic.Bool  // a search found c disagreeing with its snapshot

	triggersMu     sync.Mutex
	triggersSchema int64 // PRAGMA schema_version when triggersOK was read
	triggersOK     bool  // node_changes and its triggers exist

	// loads and catchUps count how the copy was brought up to date: read
	// whole, or by the changed rows. Changed under mu's Lock.
	loads, catchUps int
	// partial is set, under mu's Lock, when a read of the copy stopped at
	// the end of the search's ctx: the copy is kept as far as it was read.
	partial bool

	// The snapshot (vectorsnapshot.go). writer is the store's, nil when
	// it writes none (read-only, or no copy kept); log says why one was
	// not written.
	writer *sql.DB
	log    *slog.Logger
	// snapDue (the copy was read whole) and sinceSnapshot (rows caught up
	// on since) say when a snapshot is worth writing; snapshotLoads
	// counts the copies read from one. Under mu's Lock.
	snapDue       bool
	sinceSnapshot int
	snapshotLoads int
	// snapshotWrites counts the snapshots published, snapSteps the
	// statements of snapshots that finished.
	snapshotWrites atomic.Int64
	snapSteps      atomic.Int64
	snapCtx        context.Context // the background work's, ended at Close
	snapCancel     context.CancelFunc
	snapWG         sync.WaitGroup
	snapMu         sync.Mutex // guards snapClosed, snapWriting and built
	snapClosed     bool
	snapWriting    bool
	// streams counts the searches answered from the snapshot without a
	// copy; built, while buildCopy reads the copy after one, is closed
	// when it ends.
	streams atomic.Int64
	built   chan struct{}
	buildWG sync.WaitGroup
	// damaged is the last generation of the snapshot a search found a
	// part of damaged or missing: no search uses it again.
	damaged atomic.Int64
	// partBytes is about what a part of a snapshot holds
	// (snapshotPartBytes; tests make it smaller), afterSnapshotPart, set
	// by tests, runs after each part written.
	partBytes         int
	afterSnapshotPart func(part int)
	// beforeBuild, set by tests, runs in buildCopy's goroutine before it
	// reads the copy.
	beforeBuild func(ctx context.Context)
}

// vectorCopy is the index's copy of the embeddings at one seq of
// node_changes.
type vectorCopy struct {
	seq    int64                 // the last seq of node_changes the copy includes
	schema int64                 // PRAGMA schema_version at seq
	upto   int64                 // the copy holds the rows up to this rowid; searches scan the others
	full   bool                  // the rows after upto do not fit in maxBytes
	sets   map[int]*vecindex.Set // by dimension, keyed by rowid
	// unreadable holds the rows whose embedding is not whole float32
	// values (a length that is not a multiple of 4, or text or a number
	// stored by another program): skipped and counted.
	unreadable map[int64]vecindex.Labels
	names      []string          // domain and type names by number
	numbers    map[string]uint32 // the inverse of names
	bytes      int64             // what sets, unreadable and names hold
}

// noRows is the upto of a copy that holds no row yet. Rowids are any
// int64 (another program may insert negative ones), and a scan reads the
// rows after an upto: every search, whatever path it takes, leaves out
// the one row whose rowid is noRows itself (node_changes ignores it too).
const noRows = math.MinInt64

// unreadableBytes is what the copy counts for an entry of unreadable.
const unreadableBytes = 48

// textLabels is a column of the index's statements: 1 when the row's
// domain is text, plus 2 when its type is. Another program may store a
// blob there, which equals no text in SQL, so no filter selects it; the
// copy gives it the label number opaque.
const textLabels = `(typeof(domain) = 'text') | ((typeof(type) = 'text') << 1)`

// The index's statements. They read by rowid, which sqlc cannot compile.
const (
	listEmbeddingsAfter = `SELECT rowid, domain, type, embedding, typeof(embedding) = 'blob', ` + textLabels + `
FROM nodes
WHERE rowid > ?1 AND embedding IS NOT NULL
  AND (?2 IS NULL OR domain = ?2) AND (?3 IS NULL OR type = ?3)
ORDER BY rowid`
	getEmbeddingByRowid = `SELECT domain, type, embedding, typeof(embedding) = 'blob', ` + textLabels + ` FROM nodes WHERE rowid = ?`
	listEmbeddingsOf    = `SELECT rowid, domain, type, embedding, typeof(embedding) = 'blob', ` + textLabels + `
FROM nodes WHERE rowid IN (SELECT value FROM json_each(CAST(? AS TEXT))) AND embedding IS NOT NULL`
	getSearchHitByRowid = `SELECT id, title, meta, date FROM nodes WHERE rowid = ?`
	nodeChangesRange    = `SELECT (SELECT min(seq) FROM node_changes), (SELECT max(seq) FROM node_changes)`
	listNodeChanges     = `SELECT DISTINCT node_rowid FROM node_changes
WHERE seq > ? AND seq <= ? AND node_rowid > -9223372036854775808 ORDER BY node_rowid`
	countChangeTriggers = `SELECT count(*) FROM sqlite_master
WHERE (type = 'table' AND name = 'node_changes')
   OR (type = 'trigger' AND tbl_name = 'nodes' AND name IN ('node_changes_insert', 'node_changes_update', 'node_changes_delete'))`
)

// newVectorIndex is the vector index of a store opened with o, searching
// through pool and writing its snapshots through writer.
func newVectorIndex(path string, o Options, pool, writer *sql.DB) *vectorIndex {
	x := &vectorIndex{path: path, maxBytes: o.VectorCacheBytes, pool: pool, log: o.Logger, partBytes: snapshotPartBytes}
	x.snapCtx, x.snapCancel = context.WithCancel(context.Background())
	if !o.ReadOnly && x.maxBytes >= 0 {
		x.writer = writer
	}
	return x
}

// vectorIndex returns the store's vector index, or ErrClosed once the
// store is closed.
func (s *Store) vectorIndex() (*vectorIndex, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("resonance: search by vector %q: %w", s.path, ErrClosed)
	}
	if err := s.file.verifyDue(s.path); err != nil {
		return nil, fmt.Errorf("resonance: search by vector: %w", err)
	}
	return s.vindex, nil
}

// drop drops the index's copy, at Close; searches still running fail or
// finish.
func (x *vectorIndex) drop() {
	x.stopSnapshot(0) // which also cancels buildCopy
	x.buildWG.Wait()
	x.mu.Lock()
	x.c = nil
	x.mu.Unlock()
}

// stopVectorSnapshot lets a snapshot being written finish while it makes
// progress, so that the next process starts from it and Close finds the
// writer free.
func (s *Store) stopVectorSnapshot() {
	if s.vindex != nil {
		s.vindex.stopSnapshot(s.opts.BusyTimeout)
	}
}

// errRetry makes search start again with a new snapshot.
var errRetry = errors.New("retry")

// search answers vq in a read transaction of the index's pool.
func (x *vectorIndex) search(ctx context.Context, vq *vectorQuery) (SearchResult, error) {
	pool := x.pool
	for attempt := 0; ; attempt++ {
		res, err := x.searchOnce(ctx, pool, vq, attempt)
		if err == errRetry {
			continue
		}
		if err != nil {
			return SearchResult{}, fmt.Errorf("resonance: search by vector %q: %w", x.path, err)
		}
		return res, nil
	}
}

func (x *vectorIndex) searchOnce(ctx context.Context, pool *sql.DB, vq *vectorQuery, attempt int) (SearchResult, error) {
	if err := ctx.Err(); err != nil {
		return SearchResult{}, err
	}
	// The transaction is not bound to ctx: database/sql would roll it back
	// from another goroutine when ctx ends, racing the statement the search
	// is running on the same connection. ctx interrupts the statements
	// instead, and the deferred Rollback always runs here.
	tx, err := pool.BeginTx(context.Background(), nil)
	if err != nil {
		return SearchResult{}, fmt.Errorf("begin: %w", classify(err))
	}
	handedOver := false // to buildCopy
	defer func() {
		if !handedOver {
			tx.Rollback() // it only read
		}
	}()
	ok, schema, err := x.hasChangeTriggers(ctx, tx)
	if err != nil {
		return SearchResult{}, err
	}
	// After three snapshots in a row that the copy could not follow (only a
	// database changed behind its triggers does that), the search scans.
	if !ok || x.maxBytes < 0 || attempt >= 3 {
		return scanSearch(ctx, tx, vq)
	}
	var first, last sql.NullInt64
	if err := tx.QueryRowContext(ctx, nodeChangesRange).Scan(&first, &last); err != nil {
		return SearchResult{}, fmt.Errorf("read node_changes: %w", classify(err))
	}
	seq := last.Int64
	for {
		if err := x.lock(ctx, false); err != nil {
			return SearchResult{}, err
		}
		c := x.c
		if c != nil && c.seq == seq && !x.stale.Load() && (c.full || c.upto == math.MaxInt64) {
			break // holding the read lock
		}
		newer := c != nil && c.seq > seq && !x.stale.Load()
		x.mu.RUnlock()
		if newer && attempt < 2 {
			return SearchResult{}, errRetry // a later snapshot sees what the copy has
		}
		if c == nil && !x.stale.Load() {
			// No copy yet: answer from the database's snapshot of it, and
			// build the copy from that in the background.
			res, ok, err := x.streamSearch(ctx, tx, vq, first, seq, schema)
			if errors.Is(err, errStale) {
				x.stale.Store(true)
				return SearchResult{}, errRetry
			}
			if ok && err == nil {
				x.streams.Add(1)
				handedOver = x.buildCopy(tx, first, seq, schema)
			}
			if ok || err != nil {
				return res, err
			}
		}
		if err := x.lock(ctx, true); err != nil {
			return SearchResult{}, err
		}
		x.partial = false
		if c := x.c; c == nil || c.seq != seq || x.stale.Load() || (!c.full && c.upto != math.MaxInt64) {
			err = x.catchUp(ctx, tx, first, seq, schema)
			if err == nil {
				x.maybeSnapshot()
			}
		}
		x.mu.Unlock()
		if err != nil {
			return SearchResult{}, err
		}
	}
	defer x.mu.RUnlock()
	res, err := x.c.search(ctx, tx, vq)
	if errors.Is(err, errStale) {
		x.stale.Store(true)
		return SearchResult{}, errRetry
	}
	return res, err
}

// buildCopy reads the copy in the background after a search answered
// from the snapshot without it, in that search's transaction tx (last seq
// seq, first seq first, schema_version schema), which it takes over and
// ends: so no search holding a connection of the pool can keep it from
// one. It takes x.mu's Lock before it returns, so that the searches after
// that wait for the copy (as long as their ctx lets them, see lock), as
// they wait for a search that reads it. It reports false, taking nothing
// over, when it does not start: the store is closing, a copy is there, or
// the lock is held (another search is in the loop of searchOnce, or
// reading the copy): the next search without a copy starts it. Close
// cancels it.
func (x *vectorIndex) buildCopy(tx *sql.Tx, first sql.NullInt64, seq, schema int64) bool {
	x.snapMu.Lock()
	if x.snapClosed || x.built != nil {
		x.snapMu.Unlock()
		return false
	}
	built := make(chan struct{})
	x.built = built // before the lock, so that lock never blocks on it
	x.buildWG.Add(1)
	x.snapMu.Unlock()
	end := func() {
		x.snapMu.Lock()
		x.built = nil
		x.snapMu.Unlock()
		close(built)
		x.buildWG.Done()
	}
	if !x.mu.TryLock() {
		end()
		return false
	}
	if x.c != nil || x.stale.Load() {
		x.mu.Unlock()
		end()
		return false
	}
	go func() {
		defer end()
		defer x.mu.Unlock()
		defer tx.Rollback() // it only read
		if x.beforeBuild != nil {
			x.beforeBuild(x.snapCtx)
		}
		x.partial = false
		err := x.catchUp(x.snapCtx, tx, first, seq, schema)
		if err == nil {
			x.maybeSnapshot()
		} else if x.snapCtx.Err() == nil {
			x.log.Warn("resonance: vector search copy not read; searches read the database until one is", "db", x.path, "err", err)
		}
	}()
	return true
}

// lock takes x.mu's Lock (write) or RLock. While buildCopy holds the
// Lock, it waits for the copy only as long as ctx lets it: a search whose
// deadline is shorter than the build fails with ctx's error instead of
// waiting for the build.
func (x *vectorIndex) lock(ctx context.Context, write bool) error {
	for {
		if write && x.mu.TryLock() || !write && x.mu.TryRLock() {
			return nil
		}
		x.snapMu.Lock()
		built := x.built
		x.snapMu.Unlock()
		if built == nil { // held by a search: it reads or catches up under its own ctx
			if write {
				x.mu.Lock()
			} else {
				x.mu.RLock()
			}
			return nil
		}
		select {
		case <-built:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hasChangeTriggers reports whether node_changes and its triggers exist in
// tx's snapshot, reading sqlite_master only when the schema changed.
func (x *vectorIndex) hasChangeTriggers(ctx context.Context, tx *sql.Tx) (bool, int64, error) {
	var schema int64
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&schema); err != nil {
		return false, 0, fmt.Errorf("schema_version: %w", classify(err))
	}
	x.triggersMu.Lock()
	defer x.triggersMu.Unlock()
	if schema == x.triggersSchema && schema != 0 {
		return x.triggersOK, schema, nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, countChangeTriggers).Scan(&n); err != nil {
		return false, 0, fmt.Errorf("read the schema: %w", classify(err))
	}
	x.triggersSchema, x.triggersOK = schema, n == 4
	return x.triggersOK, schema, nil
}

// catchUp brings x.c to seq, the last seq of node_changes in tx's snapshot
// (first is its first), whose schema_version is schema: by the rows
// changed since, or by reading the copy whole. Without a copy, it starts
// from the database's snapshot of the copy when there is one it can use.
// Called under x.mu's Lock. On an error the copy is dropped.
func (x *vectorIndex) catchUp(ctx context.Context, tx *sql.Tx, first sql.NullInt64, seq, schema int64) (err error) {
	defer func() {
		if err != nil && !x.partial {
			x.c = nil
		}
	}()
	if x.c == nil && !x.stale.Load() {
		if err := x.loadSnapshot(ctx, tx, first, seq, schema); err != nil {
			return err
		}
		if x.c != nil && x.c.seq == seq {
			return nil
		}
	}
	c := x.c
	pruned := seq > 0 && (!first.Valid || c == nil || first.Int64 > c.seq+1)
	if c == nil || x.stale.Load() || c.seq > seq || pruned {
		return x.load(ctx, tx, seq, schema)
	}
	// Catching up is not cancelled: stopped half-way, it would leave the
	// copy neither at c.seq nor at seq. It reads few rows.
	bg := context.WithoutCancel(ctx)
	changed, err := changedSince(bg, tx, c.seq, seq)
	if err != nil {
		return err
	}
	if len(changed) > 1024 && len(changed) > c.len()/2 {
		return x.load(ctx, tx, seq, schema) // as cheap as reading them one by one
	}
	stmt, err := tx.PrepareContext(bg, getEmbeddingByRowid)
	if err != nil {
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer stmt.Close()
	v := []float32{}
	for i, r := range changed {
		// At Close the copy is dropped: buildCopy stops here.
		if i%256 == 0 && x.snapCtx.Err() != nil {
			return ErrClosed
		}
		ok, err := c.refresh(bg, stmt, r, &v, x.maxBytes)
		if err != nil {
			return err
		}
		if !ok {
			return x.load(ctx, tx, seq, schema)
		}
	}
	c.seq, c.schema = seq, schema
	x.catchUps++
	x.sinceSnapshot += len(changed)
	if !c.full && c.upto != math.MaxInt64 {
		return x.extend(ctx, tx)
	}
	return nil
}

// changedSince returns the rowids that node_changes names after seq from
// up to seq to, in tx, in rowid order.
func changedSince(ctx context.Context, tx *sql.Tx, from, to int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, listNodeChanges, from, to)
	if err != nil {
		return nil, fmt.Errorf("read node_changes: %w", classify(err))
	}
	var changed []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read node_changes: %w", classify(err))
		}
		changed = append(changed, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("read node_changes: %w", classify(err))
	}
	return changed, nil
}

// load reads the copy whole in tx, whose last seq of node_changes is seq
// and schema_version schema.
func (x *vectorIndex) load(ctx context.Context, tx *sql.Tx, seq, schema int64) error {
	x.loads++
	x.snapDue = true
	x.c = &vectorCopy{seq: seq, schema: schema, upto: noRows, sets: map[int]*vecindex.Set{},
		unreadable: map[int64]vecindex.Labels{}, numbers: map[string]uint32{}}
	x.stale.Store(false)
	return x.extend(ctx, tx)
}

// extend reads into the copy, in tx, whose snapshot the copy is, the rows
// after c.upto, until maxBytes. When ctx ends first, the copy keeps the
// rows it read (searches scan the others) and the next search goes on
// from there, so that searches whose deadline is shorter than a whole
// read still fill the copy, one after the other.
func (x *vectorIndex) extend(ctx context.Context, tx *sql.Tx) (err error) {
	c := x.c
	last := c.upto // every row up to last is in the copy
	enc := newEncoders()
	defer enc.wait()
	cancelled := func(err error) error {
		enc.wait()
		c.upto = last
		x.partial = true
		return err
	}
	rows, err := tx.QueryContext(ctx, listEmbeddingsAfter, c.upto, nil, nil)
	if err != nil {
		if ctx.Err() != nil {
			return cancelled(ctx.Err())
		}
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer rows.Close()
	var rowid int64
	var domain, typ, blob sql.RawBytes
	var isBlob bool
	var text int64
	var garbage int64
	for n := 1; rows.Next(); n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return cancelled(err)
			}
		}
		if err := rows.Scan(&rowid, &domain, &typ, &blob, &isBlob, &text); err != nil {
			if ctx.Err() != nil {
				return cancelled(ctx.Err())
			}
			return fmt.Errorf("read embeddings: %w", classify(err))
		}
		// The driver allocates each row's values afresh, garbage at
		// once; left to the collector's pace, which lets the heap grow to
		// twice what is live, it would double what the load holds.
		if garbage += int64(len(domain) + len(typ) + len(blob)); garbage > loadGarbage(x.maxBytes) {
			garbage = 0
			runtime.GC()
		}
		slot, hasSlot, ok := c.reserve(rowid, domain, typ, text, blob, isBlob, x.maxBytes)
		if !ok {
			c.full = true
			break
		}
		if hasSlot {
			enc.put(slot, blob)
		}
		last = rowid
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		if ctx.Err() != nil {
			return cancelled(ctx.Err())
		}
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	enc.wait()
	c.upto = last
	if !c.full {
		c.upto = math.MaxInt64
	}
	return nil
}

// loadGarbage is how many bytes of rows a load reads between two
// collections: an eighth of the bound, at least 1 MiB.
func loadGarbage(maxBytes int64) int64 { return max(maxBytes/8, 1<<20) }

// loadSlack is what a load allocates at most besides the copy: the rows
// read since the last collection and the encoders' batches.
func loadSlack(maxBytes int64) int64 {
	return loadGarbage(maxBytes) + int64(2*runtime.GOMAXPROCS(0)+2)*encodeBatchBytes
}

// encoders decode and encode the vectors of a load on every core while the
// loading goroutine reads rows: it copies each blob into a batch of one
// dimension, and a full batch goes to the goroutines, which put each
// vector into the slot reserved for it. Batches are reused, so what a load
// allocates besides the copy is a few batches.
type encoders struct {
	jobs    chan *encodeBatch
	free    chan *encodeBatch
	pending map[int]*encodeBatch // by dimension
	wg      sync.WaitGroup
	done    bool
}

type encodeBatch struct {
	dim   int
	slots []vecindex.Slot
	blobs []byte
}

// encodeBatchBytes is how many bytes of vectors a batch holds, or one
// vector when it is larger.
const encodeBatchBytes = 64 << 10

func newEncoders() *encoders {
	n := runtime.GOMAXPROCS(0)
	e := &encoders{jobs: make(chan *encodeBatch, n), free: make(chan *encodeBatch, 2*n+1), pending: map[int]*encodeBatch{}}
	for range n {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			v := []float32{}
			for b := range e.jobs {
				for i, sl := range b.slots {
					decodeVector(b.blobs[i*4*b.dim:(i+1)*4*b.dim], &v)
					sl.Put(v, scores(v))
				}
				b.slots, b.blobs = b.slots[:0], b.blobs[:0]
				select {
				case e.free <- b:
				default:
				}
			}
		}()
	}
	return e
}

// put queues blob's vector for slot.
func (e *encoders) put(slot vecindex.Slot, blob []byte) {
	dim := len(blob) / 4
	b := e.pending[dim]
	if b == nil {
		select {
		case b = <-e.free:
		default:
			b = &encodeBatch{}
		}
		b.dim = dim
		e.pending[dim] = b
	}
	b.slots = append(b.slots, slot)
	b.blobs = append(b.blobs, blob...)
	if len(b.blobs)+len(blob) > encodeBatchBytes { // the next would not fit
		e.jobs <- b
		delete(e.pending, dim)
	}
}

// wait sends the batches not yet full and waits for every vector to be
// put; it may be called again.
func (e *encoders) wait() {
	if e.done {
		return
	}
	e.done = true
	for _, b := range e.pending {
		e.jobs <- b
	}
	close(e.jobs)
	e.wg.Wait()
}

// len is how many rows the copy holds.
func (c *vectorCopy) len() int {
	n := len(c.unreadable)
	for _, s := range c.sets {
		n += s.Len()
	}
	return n
}

// reserve appends a row whose rowid is above every rowid of the copy:
// an unreadable one whole, one with a vector as a slot for it (ok and
// hasSlot). It reports false, adding nothing, when the row would take the
// copy over maxBytes.
func (c *vectorCopy) reserve(rowid int64, domain, typ []byte, text int64, blob []byte, isBlob bool, maxBytes int64) (slot vecindex.Slot, hasSlot, ok bool) {
	names := int64(0) // what labels adds
	if _, ok := c.numbers[string(domain)]; !ok && text&1 != 0 {
		names += int64(len(domain))
	}
	if _, ok := c.numbers[string(typ)]; !ok && text&2 != 0 {
		names += int64(len(typ))
	}
	if !readable(blob, isBlob) {
		if c.bytes+names+unreadableBytes > maxBytes {
			return slot, false, false
		}
		c.unreadable[rowid] = c.labels(domain, typ, text)
		c.bytes += unreadableBytes
		return slot, false, true
	}
	dim := len(blob) / 4
	s := c.sets[dim]
	if s == nil {
		s = vecindex.NewSet(dim)
	}
	if c.bytes+names+s.AppendBytes() > maxBytes {
		return slot, false, false
	}
	c.sets[dim] = s
	c.bytes += s.AppendBytes()
	return s.Reserve(rowid, c.labels(domain, typ, text)), true, true
}

// readable reports whether a stored embedding is whole float32 values, at
// least one: the copy keeps the others apart (unreadable), as the
// snapshot's parts of dimension 0.
func readable(blob []byte, isBlob bool) bool {
	return isBlob && len(blob) > 0 && len(blob)%4 == 0
}

// add is reserve and the slot's vector, decoded into *v.
func (c *vectorCopy) add(rowid int64, domain, typ []byte, text int64, blob []byte, isBlob bool, v *[]float32, maxBytes int64) bool {
	slot, hasSlot, ok := c.reserve(rowid, domain, typ, text, blob, isBlob, maxBytes)
	if hasSlot {
		slot.Put(c.decode(blob, v), scores(*v))
	}
	return ok
}

// decode decodes blob into *v, grown as needed. A vector holding NaN or
// ±Inf is decoded as it is; scores says it scores nothing.
func (c *vectorCopy) decode(blob []byte, v *[]float32) []float32 { return decodeVector(blob, v) }

func decodeVector(blob []byte, v *[]float32) []float32 {
	*v = slices.Grow((*v)[:0], len(blob)/4)[:len(blob)/4]
	decodeInto(*v, blob) // its error is for NaN and ±Inf, which scores catches
	return *v
}

// scores reports whether a stored vector scores at all: NaN or ±Inf,
// written by another program, scores nothing, as in the original (a NaN
// score is not above 0), and so does a magnitude below 1e-6.
func scores(v []float32) bool {
	_, _, finite := firstNonFinite(v)
	return finite && magnitude(v) >= minMagnitude
}

// labels returns the numbers of a domain and a type, adding new names;
// text says which are text (textLabels), the others are opaque.
func (c *vectorCopy) labels(domain, typ []byte, text int64) vecindex.Labels {
	l := vecindex.Labels{A: opaque, B: opaque}
	if text&1 != 0 {
		l.A = c.number(domain)
	}
	if text&2 != 0 {
		l.B = c.number(typ)
	}
	return l
}

func (c *vectorCopy) number(name []byte) uint32 {
	if n, ok := c.numbers[string(name)]; ok {
		return n
	}
	n := uint32(len(c.names))
	s := string(name)
	c.names = append(c.names, s)
	c.numbers[s] = n
	c.bytes += int64(len(s))
	return n
}

// refresh reads row rowid again through stmt (getEmbeddingByRowid) and
// puts it in the copy. It reports false when the copy must be read whole
// instead: the row cannot take its place in rowid order, or would take the
// copy over maxBytes.
func (c *vectorCopy) refresh(ctx context.Context, stmt *sql.Stmt, rowid int64, v *[]float32, maxBytes int64) (bool, error) {
	if rowid > c.upto {
		return true, nil // not in the copy: searches scan it
	}
	delete(c.unreadable, rowid)
	for _, s := range c.sets {
		if i, ok := s.Find(rowid); ok {
			s.Remove(i)
		}
	}
	var domain, typ, blob []byte
	var isBlob bool
	var text int64
	err := stmt.QueryRowContext(ctx, rowid).Scan(&domain, &typ, &blob, &isBlob, &text)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && blob == nil) {
		return true, nil // deleted, or without an embedding
	}
	if err != nil {
		return false, fmt.Errorf("read embeddings: %w", classify(err))
	}
	if !readable(blob, isBlob) {
		c.unreadable[rowid] = c.labels(domain, typ, text)
		c.bytes += unreadableBytes
		return c.bytes <= maxBytes, nil
	}
	s := c.sets[len(blob)/4]
	if s == nil {
		return c.add(rowid, domain, typ, text, blob, true, v, maxBytes), nil
	}
	i, ok := s.Find(rowid)
	switch {
	case ok:
		s.Put(i, c.labels(domain, typ, text), c.decode(blob, v), scores(*v))
		return true, nil
	case i == s.Len():
		return c.add(rowid, domain, typ, text, blob, true, v, maxBytes), nil
	}
	return false, nil
}
