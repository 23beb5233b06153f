package resonance_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// Baselines: the P workloads as a careful program without the library
// would run them, with plain database/sql, go-sqlite3 and prepared
// statements, on the same schema and the same rows, in the same process
// as the library's benchmarks. Each BenchmarkBaseline_X is the twin of a
// library benchmark: compare them with benchstat in one run.
//
// The baseline's SQL is the natural text of each statement, with the one
// fix any program can make (CAST on parameters beside ORDER BY and in
// LIMIT, see queries/); the bare forms are also measured, as
// BenchmarkBaseline_OutgoingEdges/bare and BenchmarkBaseline_GetNodesSkipEmbedding/bare,
// because they are what the library ran before.

const (
	baseUpsertNode = `INSERT INTO nodes (id, type, title, domain, layer, embedding, hash, summary, meta, date)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET type = excluded.type, title = excluded.title, domain = excluded.domain,
    layer = excluded.layer, embedding = excluded.embedding, hash = excluded.hash, summary = excluded.summary,
    meta = excluded.meta, date = excluded.date`
	baseInsertHistory = `INSERT INTO history (entity_type, entity_id, action, old_value, new_value) VALUES (?, ?, ?, ?, ?)`
	baseInsertEdge    = `INSERT OR IGNORE INTO edges (source, target, type) VALUES (?, ?, ?)`
	baseGetNode       = `SELECT id, type, title, domain, layer, embedding, hash, summary, meta, date FROM nodes WHERE id = ?`
	baseScan          = `SELECT id, type, title, domain, layer, hash, summary, meta, date FROM nodes
WHERE (?1 IS NULL OR domain = ?1) AND (?2 IS NULL OR type = ?2)
ORDER BY rowid LIMIT CAST(?3 AS INTEGER) OFFSET CAST(?4 AS INTEGER)`
	baseScanBare = `SELECT id, type, title, domain, layer, hash, summary, meta, date FROM nodes
WHERE (?1 IS NULL OR domain = ?1) AND (?2 IS NULL OR type = ?2)
ORDER BY rowid LIMIT ?3 OFFSET ?4`
	baseOutgoing = `SELECT source, target, type, confidence, veracity, context_source FROM edges
WHERE source = CAST(? AS TEXT) ORDER BY target, type`
	baseOutgoingBare = `SELECT source, target, type, confidence, veracity, context_source FROM edges
WHERE source = ? ORDER BY target, type`
)

// baselineDB opens path the way a plain program would: WAL, synchronous
// NORMAL and a busy timeout as go-sqlite3 DSN parameters.
func baselineDB(b *testing.B, path string) *sql.DB {
	b.Helper()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate"
	d, err := sql.Open("sqlite3", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// baselineEmpty creates a database with the library's schema and opens
// it as the baseline.
func baselineEmpty(b *testing.B) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "baseline.db")
	s, err := resonance.Open(context.Background(), path, resonance.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return baselineDB(b, path)
}

func prepare(b *testing.B, d *sql.DB, query string) *sql.Stmt {
	b.Helper()
	st, err := d.Prepare(query)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// baselineWriter writes nodes and edges with their history rows, the same
// rows the library writes.
type baselineWriter struct {
	upsert, history, edge *sql.Stmt
	blob, hist            []byte
}

func newBaselineWriter(b *testing.B, d *sql.DB) *baselineWriter {
	return &baselineWriter{
		upsert:  prepare(b, d, baseUpsertNode),
		history: prepare(b, d, baseInsertHistory),
		edge:    prepare(b, d, baseInsertEdge),
	}
}

func (w *baselineWriter) node(ctx context.Context, tx *sql.Tx, n resonance.Node) error {
	w.blob = w.blob[:0]
	for _, x := range n.Embedding {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("node %q: embedding is not finite", n.ID)
		}
		w.blob = binary.LittleEndian.AppendUint32(w.blob, math.Float32bits(x))
	}
	if !json.Valid(n.Meta) {
		return fmt.Errorf("node %q: meta is not JSON", n.ID)
	}
	if n.Domain == "" {
		n.Domain = "knowledge"
	}
	if n.Layer == "" {
		n.Layer = "experience"
	}
	meta := sql.NullString{String: string(n.Meta), Valid: len(n.Meta) > 0}
	if _, err := tx.Stmt(w.upsert).ExecContext(ctx, n.ID, n.Type, nullString(n.Title), n.Domain, n.Layer, w.blob,
		nullString(n.Hash), nullString(n.Summary), meta, nullString(n.Date)); err != nil {
		return err
	}
	sum := sha256.Sum256(w.blob)
	h := append(w.hist[:0], `{"id":`...)
	h = strconv.AppendQuote(h, n.ID)
	h = append(h, `,"type":`...)
	h = strconv.AppendQuote(h, n.Type)
	h = append(h, `,"title":`...)
	h = strconv.AppendQuote(h, n.Title)
	h = append(h, `,"domain":`...)
	h = strconv.AppendQuote(h, n.Domain)
	h = append(h, `,"layer":`...)
	h = strconv.AppendQuote(h, n.Layer)
	h = append(h, `,"embedding":{"dim":`...)
	h = strconv.AppendInt(h, int64(len(n.Embedding)), 10)
	h = append(h, `,"sha256":"`...)
	h = hex.AppendEncode(h, sum[:])
	h = append(h, `"},"hash":`...)
	h = strconv.AppendQuote(h, n.Hash)
	h = append(h, `,"summary":`...)
	h = strconv.AppendQuote(h, n.Summary)
	h = append(h, `,"meta":`...)
	h = append(h, n.Meta...)
	h = append(h, `,"date":`...)
	h = strconv.AppendQuote(h, n.Date)
	w.hist = append(h, '}')
	_, err := tx.Stmt(w.history).ExecContext(ctx, "node", n.ID, "upsert", nil, string(w.hist))
	return err
}

func (w *baselineWriter) edgeTo(ctx context.Context, tx *sql.Tx, source, target, typ string) error {
	r, err := tx.Stmt(w.edge).ExecContext(ctx, source, target, typ)
	if err != nil {
		return err
	}
	action := "insert"
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		action = "insert_ignored"
	}
	h := append(w.hist[:0], `{"source":`...)
	h = strconv.AppendQuote(h, source)
	h = append(h, `,"target":`...)
	h = strconv.AppendQuote(h, target)
	h = append(h, `,"type":`...)
	h = strconv.AppendQuote(h, typ)
	w.hist = append(h, '}')
	_, err = tx.Stmt(w.history).ExecContext(ctx, "edge", source+"|"+target+"|"+typ, action, nil, string(w.hist))
	return err
}

// BenchmarkBaseline_Ingest is BenchmarkIngest (P1) in plain database/sql.
func BenchmarkBaseline_Ingest(b *testing.B) {
	d := baselineEmpty(b)
	w := newBaselineWriter(b, d)
	emb := graphEmbedding(384, 1)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	var tx *sql.Tx
	i := 0
	for b.Loop() {
		if tx == nil {
			var err error
			if tx, err = d.BeginTx(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		n := graphBenchNode(i, emb)
		if err := w.node(ctx, tx, n); err != nil {
			b.Fatal(err)
		}
		for k := 1; k <= 3; k++ {
			if err := w.edgeTo(ctx, tx, n.ID, fmt.Sprintf("docs-node-%06d", i+k), "related_to"); err != nil {
				b.Fatal(err)
			}
		}
		i++
		if i%graphBenchBatch == 0 {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			tx = nil
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "nodes/s")
}

// BenchmarkStore_UpsertNode is P2: Store.UpsertNode, one transaction (and
// one history row) per node.
func BenchmarkStore_UpsertNode(b *testing.B) {
	s := graphBenchStore(b)
	emb := graphEmbedding(384, 1)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	i := 0
	for b.Loop() {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, graphBenchNode(i, emb)) }); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upserts/s")
}

// BenchmarkBaseline_UpsertNode is BenchmarkStore_UpsertNode (P2) in plain
// database/sql.
func BenchmarkBaseline_UpsertNode(b *testing.B) {
	d := baselineEmpty(b)
	w := newBaselineWriter(b, d)
	emb := graphEmbedding(384, 1)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	i := 0
	for b.Loop() {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.node(ctx, tx, graphBenchNode(i, emb)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "upserts/s")
}

// baselineFilled returns the plain pool on a copy of BenchmarkGetNode's
// data (the library's store stays open on it, as in the library's
// benchmarks) and the ids.
func baselineFilled(b *testing.B) (*sql.DB, []string) {
	b.Helper()
	s, ids := graphBenchFilled(b, 20000)
	return baselineDB(b, s.Path()), ids
}

type baseNode struct {
	ID, Type, Domain, Layer string
	Title, Hash, Summary    sql.NullString
	Meta                    []byte
	Date                    sql.NullString
	Embedding               []float32
}

// BenchmarkBaseline_GetNode is BenchmarkGetNode/Store (P3b) in plain
// database/sql: Scan, then decode the embedding.
func BenchmarkBaseline_GetNode(b *testing.B) {
	d, ids := baselineFilled(b)
	st := prepare(b, d, baseGetNode)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	i := 0
	var blob []byte
	for b.Loop() {
		var n baseNode
		err := st.QueryRowContext(ctx, ids[i%len(ids)]).Scan(&n.ID, &n.Type, &n.Title, &n.Domain, &n.Layer, &blob,
			&n.Hash, &n.Summary, &n.Meta, &n.Date)
		if err != nil {
			b.Fatal(err)
		}
		n.Embedding = make([]float32, len(blob)/4)
		for k := range n.Embedding {
			n.Embedding[k] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*k:]))
		}
		if len(n.Embedding) != 384 {
			b.Fatalf("embedding of %d floats", len(n.Embedding))
		}
		i++
	}
}

// BenchmarkBaseline_OutgoingEdges is BenchmarkOutgoingEdges (P3c) in plain
// database/sql.
func BenchmarkBaseline_OutgoingEdges(b *testing.B) {
	d, ids := baselineFilled(b)
	ctx := context.Background()
	for _, c := range []struct{ name, query string }{{"cast", baseOutgoing}, {"bare", baseOutgoingBare}} {
		b.Run(c.name, func(b *testing.B) {
			st := prepare(b, d, c.query)
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			i := 0
			for b.Loop() {
				rows, err := st.QueryContext(ctx, ids[i%len(ids)])
				if err != nil {
					b.Fatal(err)
				}
				var out []resonance.Edge
				for rows.Next() {
					var e resonance.Edge
					var cs sql.NullString
					if err := rows.Scan(&e.Source, &e.Target, &e.Type, &e.Confidence, &e.Veracity, &cs); err != nil {
						b.Fatal(err)
					}
					e.ContextSource = cs.String
					out = append(out, e)
				}
				if err := rows.Close(); err != nil || len(out) != 3 {
					b.Fatalf("%d edges, %v", len(out), err)
				}
				i++
			}
		})
	}
}

// BenchmarkBaseline_GetNodesSkipEmbedding is the metadata scan (P3a) in
// plain database/sql, meta kept as raw bytes, not decoded.
func BenchmarkBaseline_GetNodesSkipEmbedding(b *testing.B) {
	d, ids := baselineFilled(b)
	ctx := context.Background()
	for _, c := range []struct{ name, query string }{{"cast", baseScan}, {"bare", baseScanBare}} {
		b.Run(c.name, func(b *testing.B) {
			st := prepare(b, d, c.query)
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				rows, err := st.QueryContext(ctx, nil, nil, -1, 0)
				if err != nil {
					b.Fatal(err)
				}
				var out []baseNode
				for rows.Next() {
					var n baseNode
					if err := rows.Scan(&n.ID, &n.Type, &n.Title, &n.Domain, &n.Layer, &n.Hash, &n.Summary, &n.Meta, &n.Date); err != nil {
						b.Fatal(err)
					}
					out = append(out, n)
				}
				if err := rows.Close(); err != nil || len(out) != len(ids) {
					b.Fatalf("%d nodes, %v", len(out), err)
				}
			}
		})
	}
}
