package resonance

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/resonance-graph/resonancedb/db"
)

// Search by vector (D10) scores every node that has an embedding as the
// original's search engine does: the dot product with the query, summed in
// float64 over the float32 values in order, or 0 when either magnitude is
// below 1e-6. Only scores above 0 are hits; they come highest first, equal
// scores in the order of a scan of the nodes table (rowid order), and the
// first k are returned with their title, meta and date.
//
// Store.SearchByVector answers from a compact copy of the embeddings in
// memory, kept by the store's vector index (vectorindex.go) and caught up
// after each commit by the rows that changed. ReadTx.SearchByVector reads
// the embeddings of its transaction with one scan (scanSearch). Both keep
// the best k in a bounded heap (topK) instead of sorting every candidate.

// defaultSearchK is how many hits SearchByVector returns when
// SearchOptions.K is 0, as the original does.
const defaultSearchK = 5

// SearchOptions shape a search by vector. The zero value returns the best
// 5 nodes of every domain and type.
type SearchOptions struct {
	// K is how many hits to return at most. Zero means 5;
	// negative is refused with ErrInvalid.
	K int
	// Domain and Type, when not empty, restrict the search to the nodes of
	// that domain and of that type, as in NodeFilter.
	Domain string
	Type   string
	// MinScore drops the hits that score below it. Hits score above 0
	// whatever MinScore says. NaN is refused with ErrInvalid.
	MinScore float64
}

// SearchHit is a node found by SearchByVector.
type SearchHit struct {
	ID    string          `json:"id"`
	Score float64         `json:"score"`
	Title string          `json:"title"`
	Meta  json.RawMessage `json:"meta,omitempty"`
	Date  string          `json:"date"`
}

// SearchResult is what SearchByVector found.
type SearchResult struct {
	// Hits, best first; empty (not nil) when nothing scored above 0.
	Hits []SearchHit `json:"hits"`
	// Skipped counts the nodes the filters selected whose stored embedding
	// has another dimension than the query, or is not whole float32
	// values: they are not scored.
	Skipped int `json:"skipped"`
}

// SearchByVector returns the nodes whose embeddings score highest against
// query, as the original's search engine does (D10). Each node with an
// embedding scores the dot product with query, its float32 values
// multiplied and summed in float64 in order, or 0 when either magnitude is
// below 1e-6. Hits score above 0 and at least o.MinScore; they come highest
// first, equal scores in rowid order (the order in which the nodes were
// first inserted), and the first o.K (default 5) are returned with their
// title, meta and date. The one difference from the original: a node whose
// embedding has another dimension than query is not scored but counted in
// SearchResult.Skipped.
//
// It answers from a compact copy of the embeddings in memory
// (Options.VectorCacheBytes), rescoring the candidates from their stored
// float32 embeddings, so the answer is exact; a search sees every commit,
// of any process, that finished before it began. A new store's first
// search scores the snapshot of that copy kept in the database (tables
// vector_snapshot and vector_snapshot_parts) part by part when it can,
// and the copy is then read from it in the background, the searches in
// the meantime waiting for it; else it reads every embedding. A
// read-write store writes the snapshot in the background after it read
// every embedding or caught up on many changed rows.
//
// A query that is empty, holds NaN or ±Inf, or whose magnitude is below
// 1e-6 (it would match nothing) is refused with ErrInvalid, as are a
// negative K and a NaN MinScore. A stored embedding holding NaN or ±Inf
// (only another program can write one) scores nothing, as in the
// original; one that is not whole float32 values is skipped and counted.
// After Close it returns ErrClosed.
func (s *Store) SearchByVector(ctx context.Context, query []float32, o SearchOptions) (SearchResult, error) {
	vq, err := newVectorQuery(query, o)
	if err != nil {
		return SearchResult{}, err
	}
	x, err := s.vectorIndex()
	if err != nil {
		return SearchResult{}, err
	}
	return x.search(ctx, vq)
}

// SearchByVector is Store.SearchByVector inside the transaction: it scores
// the embeddings of the transaction's own snapshot (in a Tx, with its own
// uncommitted writes), reading them with one scan instead of the store's
// copy in memory. After the transaction has ended it fails with
// sql.ErrTxDone.
func (r *ReadTx) SearchByVector(ctx context.Context, query []float32, o SearchOptions) (SearchResult, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector: %w", err)
	}
	defer done()
	vq, err := newVectorQuery(query, o)
	if err != nil {
		return SearchResult{}, err
	}
	res, err := scanSearch(ctx, r.conn, vq)
	if err != nil {
		return SearchResult{}, fmt.Errorf("resonance: search by vector: %w", err)
	}
	return res, nil
}

// vectorQuery is a checked query with its options.
type vectorQuery struct {
	q32         []float32
	q           []float64 // the query's float32 values, widened once
	k           int
	min         float64
	domain, typ string
}

// newVectorQuery checks query and o; errors wrap ErrInvalid.
func newVectorQuery(query []float32, o SearchOptions) (*vectorQuery, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("resonance: search by vector: %w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if len(query) == 0 {
		return nil, bad("the query vector is empty")
	}
	if i, bits, ok := firstNonFinite(query); !ok {
		return nil, bad("query %v", nonFiniteError(i, bits))
	}
	if magnitude(query) < minMagnitude {
		return nil, bad("the query vector's magnitude is below %g: it would match nothing", minMagnitude)
	}
	if o.K < 0 {
		return nil, bad("SearchOptions.K is %d: want 0 (the default, %d) or more", o.K, defaultSearchK)
	}
	if math.IsNaN(o.MinScore) {
		return nil, bad("SearchOptions.MinScore is NaN")
	}
	vq := &vectorQuery{q32: query, q: make([]float64, len(query)), k: o.K, min: o.MinScore, domain: o.Domain, typ: o.Type}
	if vq.k == 0 {
		vq.k = defaultSearchK
	}
	for i, x := range query {
		vq.q[i] = float64(x)
	}
	return vq, nil
}

// dim is the query's dimension.
func (vq *vectorQuery) dim() int { return len(vq.q) }

// hit reports whether score makes a hit.
func (vq *vectorQuery) hit(score float64) bool { return score > 0 && score >= vq.min }

// magnitude is the L2 norm of v, its squares summed in float64 in order,
// as the original computes it.
func magnitude(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum)
}

// The dot products. A float32 has a 24-bit significand, so the product of
// two, computed in float64 (53 bits), is exact: the score depends only on
// the order of the additions, and each loop below adds in index order, as
// the original does. (A fused multiply-add, which the compiler may emit on
// some architectures, rounds once after adding an exact product: the same
// result.)

// dot returns the sum of q[i]*v[i] in index order; len(v) >= len(q).
func dot(q []float64, v []float32) float64 {
	v = v[:len(q)]
	var s float64
	for i, x := range q {
		s += x * float64(v[i])
	}
	return s
}

// scored is a candidate: its score and its node's rowid (which breaks
// ties: the earlier in a scan, the lower rowid, is better).
type scored struct {
	score float64
	rowid int64
}

// worse reports whether a ranks below b.
func worse(a, b scored) bool {
	return a.score < b.score || (a.score == b.score && a.rowid > b.rowid)
}

// topK keeps the best k candidates offered, in a min-heap whose root is the
// worst of them: each offer costs O(log k), and nothing is sorted but the k
// kept at the end. Its memory grows with the candidates kept, never to
// more than k, so a huge K costs nothing up front.
type topK struct {
	k int
	h []scored
}

// admits reports whether a candidate with this score and scan position
// would be kept, so that the caller can skip building it.
func (t *topK) admits(score float64, rowid int64) bool {
	return len(t.h) < t.k || worse(t.h[0], scored{score: score, rowid: rowid})
}

// offer keeps c if it ranks among the best k so far.
func (t *topK) offer(c scored) {
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if !worse(t.h[0], c) {
		return
	}
	t.h[0] = c
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(t.h) && worse(t.h[l], t.h[m]) {
			m = l
		}
		if r < len(t.h) && worse(t.h[r], t.h[m]) {
			m = r
		}
		if m == i {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// best returns the candidates kept, best first.
func (t *topK) best() []scored {
	slices.SortFunc(t.h, func(a, b scored) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	return t.h
}

// scanSearch searches the embeddings q reads, in one scan: the search of a
// transaction, and of a store whose database has no node_changes.
func scanSearch(ctx context.Context, q db.DBTX, vq *vectorQuery) (SearchResult, error) {
	top := topK{k: vq.k}
	skipped, err := scanInto(ctx, q, vq, noRows, &top)
	if err != nil {
		return SearchResult{}, err
	}
	hits, err := hitDetails(ctx, q, top.best())
	return SearchResult{Hits: hits, Skipped: skipped}, err
}

// scanInto scores the embeddings of the nodes after rowid after that q
// reads and vq's filters select, offering the hits to top, and returns how
// many it skipped.
func scanInto(ctx context.Context, q db.DBTX, vq *vectorQuery, after int64, top *topK) (int, error) {
	var d, t any
	if vq.domain != "" {
		d = vq.domain
	}
	if vq.typ != "" {
		t = vq.typ
	}
	rows, err := q.QueryContext(ctx, listEmbeddingsAfter, after, d, t)
	if err != nil {
		return 0, fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer rows.Close()
	var rowid int64
	var domain, typ, blob sql.RawBytes
	var isBlob bool
	var text int64
	v := make([]float32, vq.dim())
	skipped := 0
	for rows.Next() {
		if err := rows.Scan(&rowid, &domain, &typ, &blob, &isBlob, &text); err != nil {
			return 0, fmt.Errorf("read embeddings: %w", classify(err))
		}
		if !vq.offer(top, rowid, blob, isBlob, v) {
			skipped++
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("read embeddings: %w", classify(err))
	}
	return skipped, nil
}

// offer scores a stored embedding, decoded into v (of the query's
// dimension), and offers it to top as the row rowid. It reports false for
// one that is skipped: of another dimension, not whole float32 values, or
// not a blob at all (text or a number another program stored).
func (vq *vectorQuery) offer(top *topK, rowid int64, blob []byte, isBlob bool, v []float32) bool {
	if !isBlob || len(blob) != 4*len(v) {
		return false
	}
	// NaN or ±Inf, written by another program, scores nothing, as in the
	// original (a NaN score is not above 0).
	if err := decodeInto(v, blob); err != nil || magnitude(v) < minMagnitude {
		return true
	}
	if s := dot(vq.q, v); vq.hit(s) && top.admits(s, rowid) {
		top.offer(scored{score: s, rowid: rowid})
	}
	return true
}

// hitDetails reads the id, title, meta and date of each candidate, in the
// snapshot q reads (the one the candidates were scored in).
func hitDetails(ctx context.Context, q db.DBTX, best []scored) ([]SearchHit, error) {
	hits := make([]SearchHit, len(best))
	for i, c := range best {
		var id string
		var title, meta, date sql.NullString
		err := q.QueryRowContext(ctx, getSearchHitByRowid, c.rowid).Scan(&id, &title, &meta, &date)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				err = fmt.Errorf("%w: the node was scored but is gone from the same snapshot", ErrNotFound)
			}
			return nil, fmt.Errorf("node of rowid %d: %w", c.rowid, classify(err))
		}
		hits[i] = SearchHit{ID: id, Score: c.score, Title: title.String, Date: date.String}
		if meta.String != "" {
			hits[i].Meta = json.RawMessage(meta.String)
		}
	}
	return hits, nil
}
