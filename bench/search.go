package bench

import (
	"database/sql"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// P6 is vector search on the database P1 filled: Config.Queries top-10
// queries, each a random unit vector. The library answers with
// Store.SearchByVector; the baseline does what the original does for
// each query: a prepared scan of every embedding, the dot product in Go
// (with both magnitudes, over the query's length), a full stable sort,
// the first 10, then their title, meta and date. The timing includes the
// library's first search, which reads the embeddings into memory. The
// memory a side keeps for it is the growth of the live Go heap, measured
// after a collection before the first query and after the last one with
// the store still open.

// searchK is how many hits each P6 query asks for.
const searchK = 10

// queries returns P6's query vectors, the same on every run.
func (d *data) queries(n int) [][]float32 {
	rng := xorshift(0x2545f4914f6cdd1d)
	qs := make([][]float32, n)
	for i := range qs {
		v := make([]float32, Dim)
		for j := range v {
			v[j] = float32(rng.next()%20001)/10000 - 1
		}
		qs[i] = resonance.Normalize(v)
	}
	return qs
}

// vectorSearch runs P6 on w and returns queries/s and the MiB kept. The
// ids each query found are checked against the first run's, so both sides
// must agree on every hit and its order.
func (r *runner) vectorSearch(w workloads) (qps, keptMiB float64, err error) {
	if r.queries == nil {
		r.queries = r.data.queries(r.cfg.Queries)
	}
	found := make([][]string, len(r.queries))
	before := liveHeap()
	t0 := time.Now()
	for i, q := range r.queries {
		if found[i], err = w.search(q, searchK); err != nil {
			return 0, 0, err
		}
	}
	el := time.Since(t0)
	kept := liveHeap() - before
	runtime.KeepAlive(found)
	if r.searchIDs == nil {
		r.searchIDs = found
	}
	for i := range found {
		if !slices.Equal(found[i], r.searchIDs[i]) {
			return 0, 0, fmt.Errorf("query %d found %v; another run found %v", i, found[i], r.searchIDs[i])
		}
	}
	return float64(len(r.queries)) / el.Seconds(), float64(max(kept, 0)) / (1 << 20), nil
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func (w *libWorkloads) search(q []float32, k int) ([]string, error) {
	res, err := w.s.SearchByVector(ctx, q, resonance.SearchOptions{K: k})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

// The baseline's P6 statements, as the original runs them.
const (
	sqlScanEmbeddings = `SELECT id, embedding FROM nodes WHERE embedding IS NOT NULL`
	sqlSearchHit      = `SELECT title, meta, date FROM nodes WHERE id = ?`
)

type baseHit struct {
	id                string
	score             float64
	title, meta, date sql.NullString
}

func (w *baseWorkloads) search(q []float32, k int) ([]string, error) {
	if w.st.embeddings == nil {
		var err error
		if w.st.embeddings, err = w.db.Prepare(sqlScanEmbeddings); err != nil {
			return nil, err
		}
		if w.st.hit, err = w.db.Prepare(sqlSearchHit); err != nil {
			return nil, err
		}
	}
	rows, err := w.st.embeddings.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []baseHit
	for rows.Next() {
		var id string
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, err
		}
		v := decodeEmbedding(blob)
		if len(v) < len(q) {
			continue
		}
		var dot, na, nb float64
		for i := range q {
			x, y := float64(q[i]), float64(v[i])
			dot += x * y
			na += x * x
			nb += y * y
		}
		if math.Sqrt(na) < 1e-6 || math.Sqrt(nb) < 1e-6 {
			dot = 0
		}
		if dot > 0 {
			hits = append(hits, baseHit{id: id, score: dot})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	hits = hits[:min(k, len(hits))]
	ids := make([]string, len(hits))
	for i := range hits {
		h := &hits[i]
		if err := w.st.hit.QueryRow(h.id).Scan(&h.title, &h.meta, &h.date); err != nil {
			return nil, fmt.Errorf("node %q: %w", h.id, err)
		}
		ids[i] = h.id
	}
	return ids, nil
}
