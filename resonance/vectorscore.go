package resonance

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/resonance-graph/resonancedb/internal/vecindex"
)

// errStale reports a copy that disagrees with the snapshot it searched.
var errStale = errors.New("the copy of the embeddings missed a change")

// none is a label number no row of the copy has; opaque is that of a
// domain or type that is not text (textLabels), which no filter selects.
const (
	none   = vecindex.Any - 1
	opaque = vecindex.Any - 2
)

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
		cands := s.Candidates(vecindex.NewQuery(vq.q32), vq.k, vq.min, f, runtime.GOMAXPROCS(0))
		if err := rescore(ctx, tx, cands, vq, &top); err != nil {
			return SearchResult{}, err
		}
	}
	var err error
	res.Hits, err = hitDetails(ctx, tx, top.best())
	return res, err
}

// rescore scores exactly the candidates that may enter top, best upper
// bound first, until none left can. It reads their stored float32
// embeddings a batch at a time (rescoreBatch rows a statement, the first
// batch k), which costs a few rows read in vain past the last candidate
// that could enter, and saves a statement per candidate: when many nodes
// share an embedding, hundreds of candidates tie on their bounds. It
// returns errStale when a candidate's row disagrees with its bounds.
func rescore(ctx context.Context, tx *sql.Tx, cands []vecindex.Candidate, vq *vectorQuery, top *topK) error {
	slices.SortFunc(cands, func(a, b vecindex.Candidate) int {
		return cmp.Or(cmp.Compare(b.Upper, a.Upper), cmp.Compare(a.Key, b.Key))
	})
	stmt, err := tx.PrepareContext(ctx, listEmbeddingsOf)
	if err != nil {
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer stmt.Close()
	v := make([]float32, vq.dim())
	rows := make(map[int64]storedRow)
	for i := 0; i < len(cands); {
		n := min(len(cands)-i, max(vq.k, rescoreBatch))
		ids := make([]int64, n)
		for j, cd := range cands[i : i+n] {
			ids[j] = cd.Key
		}
		if err := readRows(ctx, stmt, ids, rows); err != nil {
			return err
		}
		for _, cd := range cands[i : i+n] {
			if len(top.h) == top.k && cd.Upper < top.h[0].score {
				return nil // neither this candidate nor any after it can enter
			}
			r, ok := rows[cd.Key]
			if !ok || !r.isBlob || len(r.blob) != 4*len(v) || !vq.selects(r) {
				return errStale
			}
			if decodeInto(v, r.blob) != nil || magnitude(v) < minMagnitude {
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
		i += n
		clear(rows)
	}
	return nil
}

// rescoreBatch is how many candidates rescore reads a statement, at least.
const rescoreBatch = 64

// storedRow is a node's row as rescore reads it.
type storedRow struct {
	domain, typ string
	text        int64 // textLabels
	blob        []byte
	isBlob      bool
}

// selects reports whether vq's filters select r, as SQL's = does.
func (vq *vectorQuery) selects(r storedRow) bool {
	return (vq.domain == "" || r.text&1 != 0 && r.domain == vq.domain) &&
		(vq.typ == "" || r.text&2 != 0 && r.typ == vq.typ)
}

// readRows reads the rows ids through stmt (listEmbeddingsOf) into rows,
// keyed by rowid; a row that is gone, or has no embedding, is absent.
func readRows(ctx context.Context, stmt *sql.Stmt, ids []int64, rows map[int64]storedRow) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rs, err := stmt.QueryContext(ctx, string(list))
	if err != nil {
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer rs.Close()
	for rs.Next() {
		var rowid int64
		var r storedRow
		if err := rs.Scan(&rowid, &r.domain, &r.typ, &r.blob, &r.isBlob, &r.text); err != nil {
			return fmt.Errorf("read embeddings: %w", classify(err))
		}
		rows[rowid] = r
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read embeddings: %w", classify(err))
	}
	return nil
}
