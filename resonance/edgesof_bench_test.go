package resonance_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// edgesOfBatch is how many nodes one set-based read asks for: a
// traversal's frontier or the neighbours of a page of results.
const edgesOfBatch = 100

// BenchmarkOutgoingEdgesOf reads the 3 outgoing edges of each of 100
// nodes per op: "Set" in one statement (Reads().OutgoingEdgesOf), "Loop"
// with Reads().OutgoingEdges per node, as callers did before. ns/node is
// per node read.
func BenchmarkOutgoingEdgesOf(b *testing.B) {
	s, ids := graphBenchFilled(b, 20000)
	ctx := context.Background()
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			batch := ids[i%(len(ids)/edgesOfBatch)*edgesOfBatch:][:edgesOfBatch]
			m, err := s.Reads().OutgoingEdgesOf(ctx, batch)
			if err != nil || len(m) != edgesOfBatch || len(m[batch[0]]) != 3 {
				b.Fatalf("OutgoingEdgesOf = %d nodes, %v", len(m), err)
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*edgesOfBatch), "ns/node")
	})
	b.Run("Loop", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			batch := ids[i%(len(ids)/edgesOfBatch)*edgesOfBatch:][:edgesOfBatch]
			m := make(map[string][]resonance.Edge, len(batch))
			for _, id := range batch {
				es, err := s.Reads().OutgoingEdges(ctx, id)
				if err != nil || len(es) != 3 {
					b.Fatalf("OutgoingEdges = %d edges, %v", len(es), err)
				}
				m[id] = es
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*edgesOfBatch), "ns/node")
	})
}

// BenchmarkBaseline_OutgoingEdgesOf is BenchmarkOutgoingEdgesOf in plain
// database/sql: "Set" runs the same one statement (the sources as a JSON
// array), "Loop" the prepared per-node statement of P3c.
func BenchmarkBaseline_OutgoingEdgesOf(b *testing.B) {
	d, ids := baselineFilled(b)
	ctx := context.Background()
	scan := func(rows *sql.Rows, m map[string][]resonance.Edge) {
		for rows.Next() {
			var e resonance.Edge
			var cs sql.NullString
			if err := rows.Scan(&e.Source, &e.Target, &e.Type, &e.Confidence, &e.Veracity, &cs); err != nil {
				b.Fatal(err)
			}
			e.ContextSource = cs.String
			m[e.Source] = append(m[e.Source], e)
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Set", func(b *testing.B) {
		st := prepare(b, d, `SELECT source, target, type, confidence, veracity, context_source FROM edges
WHERE source IN (SELECT value FROM json_each(CAST(? AS TEXT))) ORDER BY source, target, type`)
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			batch := ids[i%(len(ids)/edgesOfBatch)*edgesOfBatch:][:edgesOfBatch]
			arr, err := json.Marshal(batch)
			if err != nil {
				b.Fatal(err)
			}
			rows, err := st.QueryContext(ctx, string(arr))
			if err != nil {
				b.Fatal(err)
			}
			m := make(map[string][]resonance.Edge, len(batch))
			scan(rows, m)
			if len(m) != edgesOfBatch {
				b.Fatalf("%d nodes", len(m))
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*edgesOfBatch), "ns/node")
	})
	b.Run("Loop", func(b *testing.B) {
		st := prepare(b, d, baseOutgoing)
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			batch := ids[i%(len(ids)/edgesOfBatch)*edgesOfBatch:][:edgesOfBatch]
			m := make(map[string][]resonance.Edge, len(batch))
			for _, id := range batch {
				rows, err := st.QueryContext(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				scan(rows, m)
			}
			if len(m) != edgesOfBatch {
				b.Fatalf("%d nodes", len(m))
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*edgesOfBatch), "ns/node")
	})
}
