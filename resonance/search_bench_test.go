package resonance_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The search benchmarks are workload P6 in small: 20,000 nodes with
// 384-float embeddings, top-10 queries. BenchmarkSearchByVector is the
// library (the store's copy in memory; "scan" is a store that keeps no
// copy and reads every embedding per query); BenchmarkBaseline_SearchByVector
// is the original's way in plain database/sql.

const (
	searchBenchNodes   = 20000
	searchBenchQueries = 200
	searchBenchK       = 10
)

// searchBenchPath writes the nodes to a new database once per benchmark
// and returns its path and the queries. With shared > 0 the nodes cycle
// through that many embeddings, as in P6, where each is shared by hundreds
// of nodes whose bounds tie.
func searchBenchPath(b *testing.B, shared int) (string, [][]float32) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "graph.db")
	s, err := resonance.Open(context.Background(), path, resonance.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for start := 0; start < searchBenchNodes; start += graphBenchBatch {
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := start; i < min(start+graphBenchBatch, searchBenchNodes); i++ {
				seed := uint64(i + 1)
				if shared > 0 {
					seed = uint64(i%shared + 1)
				}
				if err := tx.UpsertNode(ctx, graphBenchNode(i, resonance.Normalize(graphEmbedding(384, seed)))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	qs := make([][]float32, searchBenchQueries)
	for i := range qs {
		qs[i] = resonance.Normalize(graphEmbedding(384, uint64(1_000_000+i)))
	}
	return path, qs
}

// BenchmarkSearchByVector is one top-10 Store.SearchByVector; the first
// search, which reads the embeddings into memory, is done before the timer
// starts. kept-MiB is the live heap the store keeps for its searches.
// "cached-after-each-commit" updates a node's date before each search, so
// that every search reads the embeddings again: the worst case of the copy.
func BenchmarkSearchByVector(b *testing.B) {
	distinct, qs := searchBenchPath(b, 0)
	shared, _ := searchBenchPath(b, 64)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		cache  int64
		commit bool // before each search, a commit elsewhere changes the database
		shared bool // the nodes share 64 embeddings
	}{{"cached", 0, false, false}, {"scan", -1, false, false}, {"cached-after-each-commit", 0, true, false}, {"cached-64-embeddings", 0, false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			path := distinct
			if bc.shared {
				path = shared
			}
			before := liveHeap()
			s, err := resonance.Open(ctx, path, resonance.Options{VectorCacheBytes: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.SearchByVector(ctx, qs[0], resonance.SearchOptions{K: searchBenchK}); err != nil {
				b.Fatal(err)
			}
			kept := liveHeap() - before
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if bc.commit {
					err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
						return tx.UpdateNodeDate(ctx, graphBenchNode(i%searchBenchNodes, nil).ID, "2025-01-01")
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				res, err := s.SearchByVector(ctx, qs[i%len(qs)], resonance.SearchOptions{K: searchBenchK})
				if err != nil || len(res.Hits) != searchBenchK {
					b.Fatalf("%d hits, %v", len(res.Hits), err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
			b.ReportMetric(float64(kept)/(1<<20), "kept-MiB")
		})
	}
}

// BenchmarkBaseline_SearchByVector is the original's search in plain
// database/sql: a prepared scan of every embedding, decoded, scored with
// the magnitudes over the query's length, a full stable sort, the first
// 10, then their title, meta and date.
func BenchmarkBaseline_SearchByVector(b *testing.B) {
	path, qs := searchBenchPath(b, 0)
	d := baselineDB(b, path)
	scan := prepare(b, d, `SELECT id, embedding FROM nodes WHERE embedding IS NOT NULL`)
	details := prepare(b, d, `SELECT title, meta, date FROM nodes WHERE id = ?`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hits, err := baselineSearch(scan, details, qs[i%len(qs)], searchBenchK)
		if err != nil || len(hits) != searchBenchK {
			b.Fatalf("%d hits, %v", len(hits), err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

type baselineHit struct {
	id                string
	score             float64
	title, meta, date sql.NullString
}

func baselineSearch(scan, details *sql.Stmt, q []float32, k int) ([]baselineHit, error) {
	rows, err := scan.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []baselineHit
	for rows.Next() {
		var id string
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return nil, err
		}
		v := make([]float32, len(blob)/4)
		for i := range v {
			v[i] = math.Float32frombits(uint32(blob[4*i]) | uint32(blob[4*i+1])<<8 | uint32(blob[4*i+2])<<16 | uint32(blob[4*i+3])<<24)
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
			hits = append(hits, baselineHit{id: id, score: dot})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	hits = hits[:min(k, len(hits))]
	for i := range hits {
		if err := details.QueryRow(hits[i].id).Scan(&hits[i].title, &hits[i].meta, &hits[i].date); err != nil {
			return nil, fmt.Errorf("details of %q: %w", hits[i].id, err)
		}
	}
	return hits, nil
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
