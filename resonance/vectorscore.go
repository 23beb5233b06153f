package resonance

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/resonance-graph/resonancedb/internal/vecindex"
)

// errStale reports a copy that disagrees with the snapshot it searched.
var errStale = errors.New("the copy of the embeddings missed a change")

// none is a label number no row of the copy has.
const none = vecindex.Any - 1

// filter returns vq's domain and type filters as label numbers; a name no
// row of the copy has becomes none.
func (c *vectorCopy) filter(vq *vectorQuery) vecindex.Labels {
	number := func(name string) uint32 {
		if name == "" {
			return vecindex.Any
		}
		if n, ok := c.numbers[name]; ok {
			return n
		}
		return none
	}
	return vecindex.Labels{A: number(vq.domain), B: number(vq.typ)}
}

// search answers vq from the copy, which is tx's snapshot: the rows above
// c.upto by a scan, the others by the candidates of the copy scored again
// from their stored float32 embedding, best upper bound first, until no
// candidate left can enter the best k. It returns errStale when a
// candidate's row disagrees with the copy.
func (c *vectorCopy) search(ctx context.Context, tx *sql.Tx, vq *vectorQuery) (SearchResult, error) {
	var res SearchResult
	top := topK{k: vq.k}
	if c.upto < math.MaxInt64 {
		n, err := scanInto(ctx, tx, vq, c.upto, &top)
		if err != nil {
			return SearchResult{}, err
		}
		res.Skipped += n
	}
	f := c.filter(vq)
	for _, l := range c.unreadable {
		if f.Matches(l) {
			res.Skipped++
		}
	}
	for dim, s := range c.sets {
		if dim != vq.dim() {
			res.Skipped += s.Count(f)
		}
	}
	if s := c.sets[vq.dim()]; s != nil {
		if err := c.rescore(ctx, tx, s, f, vq, &top); err != nil {
			return SearchResult{}, err
		}
	}
	var err error
	res.Hits, err = hitDetails(ctx, tx, top.best())
	return res, err
}

// rescore scores exactly the candidates of s that may enter top.
func (c *vectorCopy) rescore(ctx context.Context, tx *sql.Tx, s *vecindex.Set, f vecindex.Labels, vq *vectorQuery, top *topK) error {
	cands := s.Candidates(vecindex.NewQuery(vq.q32), vq.k, vq.min, f, runtime.GOMAXPROCS(0))
	slices.SortFunc(cands, func(a, b vecindex.Candidate) int {
		return cmp.Or(cmp.Compare(b.Upper, a.Upper), cmp.Compare(a.Key, b.Key))
	})
	stmt, err := tx.PrepareContext(ctx, getEmbeddingByRowid)
	if err != nil {
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer stmt.Close()
	v := make([]float32, vq.dim())
	for _, cd := range cands {
		if len(top.h) == top.k && cd.Upper < top.h[0].score {
			break // neither this candidate nor any after it can enter
		}
		var domain, typ string
		var blob []byte
		var isBlob bool
		err := stmt.QueryRowContext(ctx, cd.Key).Scan(&domain, &typ, &blob, &isBlob)
		if errors.Is(err, sql.ErrNoRows) {
			return errStale
		}
		if err != nil {
			return fmt.Errorf("read embeddings: %w", classify(err))
		}
		if !isBlob || len(blob) != 4*len(v) || (vq.domain != "" && domain != vq.domain) || (vq.typ != "" && typ != vq.typ) {
			return errStale
		}
		if decodeInto(v, blob) != nil || magnitude(v) < minMagnitude {
			return errStale
		}
		score := dot(vq.q, v)
		if score < cd.Lower || score > cd.Upper {
			return errStale
		}
		if vq.hit(score) && top.admits(score, cd.Key) {
			top.offer(scored{score: score, rowid: cd.Key})
		}
	}
	return nil
}
