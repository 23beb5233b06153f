package bench

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The baseline's statements: the text sqlc generated from queries/, so both
// sides run the same SQL, each in the best form a careful program would
// give it. Like the library's, the reads do not read back the key they were
// given. OutgoingEdges compares with CAST(? AS TEXT): beside an ORDER BY a
// bare parameter lets SQLite re-plan the statement whenever its value
// changes, and go-sqlite3 clears the bindings before each run, so the bare
// form was compiled anew on every call (about twice the cost). The scan of
// P3a reads every node, so it has neither the library's filters nor its
// LIMIT and OFFSET (a bare ? there is compiled anew on every call too).
const (
	sqlUpsertNode = `INSERT INTO nodes (id, type, title, domain, layer, embedding, hash, summary, meta, date)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    type = excluded.type,
    title = excluded.title,
    domain = excluded.domain,
    layer = excluded.layer,
    embedding = excluded.embedding,
    hash = excluded.hash,
    summary = excluded.summary,
    meta = excluded.meta,
    date = excluded.date`
	sqlInsertHistory = `INSERT INTO history (entity_type, entity_id, action, old_value, new_value)
VALUES (?, ?, ?, ?, ?)`
	sqlInsertEdge = `INSERT OR IGNORE INTO edges (source, target, type)
VALUES (?, ?, ?)`
	sqlGetNode = `SELECT type, title, domain, layer, embedding, hash, summary, meta, date
FROM nodes
WHERE id = ?`
	sqlScanNodes = `SELECT id, type, title, domain, layer, hash, summary, meta, date
FROM nodes
ORDER BY rowid`
	sqlOutgoingEdges = `SELECT target, type, confidence, veracity, context_source
FROM edges
WHERE source = CAST(? AS TEXT)
ORDER BY target, type`
	sqlOutgoingEdgesOf = `SELECT source, target, type, confidence, veracity, context_source
FROM edges
WHERE source IN (SELECT value FROM json_each(CAST(? AS TEXT)))
ORDER BY source, target, type`
	sqlCountNodes = `SELECT count(*) FROM nodes`
)

// baselineDriver is go-sqlite3 with a connect hook for the two settings
// that have no DSN parameter, mmap_size and temp_store: with the DSN of
// baselineDSN every baseline connection carries the same settings as the
// library's hardened connector (C1–C6). Unlike the connector it does not
// read them back.
const baselineDriver = "sqlite3_bench_baseline"

func init() {
	sql.Register(baselineDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY", nil)
			return err
		},
	})
}

// baselineDSN is how a plain program opens the database: busy timeout, WAL,
// synchronous NORMAL, foreign keys and write transactions that begin
// IMMEDIATE through go-sqlite3's DSN parameters. The page cache and the
// checkpoint threshold keep SQLite's defaults (2 MiB, 1,000 pages).
func baselineDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"
}

// BaselineNote describes the baseline, for the report's footnote.
const BaselineNote = "baseline = database/sql + go-sqlite3, prepared statements, the same SQL (CAST(? AS TEXT) " +
	"beside ORDER BY; P3a's scan without filters or LIMIT), ordinary columns read with Scan; every connection, " +
	"P4's included, set up like the library's (busy_timeout 5000, WAL, synchronous NORMAL, foreign_keys ON " +
	"through the DSN, mmap_size 0 and temp_store MEMORY in a ConnectHook) but not read back, and with SQLite's " +
	"default page cache (2 MiB) and wal_autocheckpoint (1000), which the library's store writer raises to 8 MiB " +
	"and 4000. P1 includes the checkpoint that ends it"

// createSchema creates the database at path with the library's migrations,
// so the baseline runs on exactly the same schema.
func createSchema(path string) error {
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		return err
	}
	return s.Close()
}

// baseNode is the baseline's node as it reads it back.
type baseNode struct {
	ID, Type, Domain, Layer          string
	Title, Hash, Summary, Meta, Date sql.NullString
	Embedding                        []float32
}

type baseEdge struct {
	Source, Target, Type string
	Confidence, Veracity float64
	ContextSource        sql.NullString
}

// baseWorkloads runs the workloads with database/sql and prepared
// statements, as a careful program without the library would.
type baseWorkloads struct {
	r  *runner
	db *sql.DB
	st struct {
		upsert, history, edge, get, scan, outgoing, outgoingOf *sql.Stmt
		embeddings, hit                                        *sql.Stmt // P6's, prepared on its first query
	}
	nb, wb     nodeBuf
	blob, hist []byte // the ingest's buffers
	wblob      []byte // the P5 writer's
	whist      []byte
}

func (w *baseWorkloads) open(path string) error {
	if err := createSchema(path); err != nil {
		return err
	}
	db, err := sql.Open(baselineDriver, baselineDSN(path))
	if err != nil {
		return err
	}
	w.db = db
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&w.st.upsert, sqlUpsertNode}, {&w.st.history, sqlInsertHistory}, {&w.st.edge, sqlInsertEdge},
		{&w.st.get, sqlGetNode}, {&w.st.scan, sqlScanNodes}, {&w.st.outgoing, sqlOutgoingEdges},
		{&w.st.outgoingOf, sqlOutgoingEdgesOf},
	} {
		if *p.st, err = db.Prepare(p.sql); err != nil {
			db.Close()
			return err
		}
	}
	return nil
}

func (w *baseWorkloads) close() error {
	if w.db == nil {
		return nil
	}
	err := w.db.Close() // closes the prepared statements too
	w.db = nil
	return err
}

// writeNode upserts node i with its history row, in tx.
func (w *baseWorkloads) writeNode(upsert, history *sql.Stmt, blob, hist *[]byte, n resonance.Node) error {
	b, ok := encodeEmbedding(*blob, n.Embedding)
	if !ok {
		return fmt.Errorf("node %q: embedding is not finite", n.ID)
	}
	*blob = b
	domain, layer := n.Domain, n.Layer
	if domain == "" {
		domain = "knowledge"
	}
	if layer == "" {
		layer = "experience"
	}
	meta := sql.NullString{String: string(n.Meta), Valid: len(n.Meta) > 0}
	if _, err := upsert.Exec(n.ID, n.Type, null(n.Title), domain, layer, b, null(n.Hash), null(n.Summary), meta, null(n.Date)); err != nil {
		return err
	}
	*hist = nodeHistory((*hist)[:0], &n, domain, layer, b)
	_, err := history.Exec("node", n.ID, "upsert", nil, string(*hist))
	return err
}

func null(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// nodeHistory is the history record of a node, the same text the library
// writes: its fields, with the embedding as its dimension and SHA-256.
func nodeHistory(b []byte, n *resonance.Node, domain, layer string, blob []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, n.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, n.Type)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, n.Title)
	b = append(b, `,"domain":`...)
	b = appendJSONString(b, domain)
	b = append(b, `,"layer":`...)
	b = appendJSONString(b, layer)
	b = append(b, `,"embedding":{"dim":`...)
	b = strconv.AppendInt(b, int64(len(blob)/4), 10)
	sum := sha256.Sum256(blob)
	b = append(b, `,"sha256":"`...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, `"},"hash":`...)
	b = appendJSONString(b, n.Hash)
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, n.Summary)
	b = append(b, `,"meta":`...)
	b = append(b, n.Meta...)
	b = append(b, `,"date":`...)
	b = appendJSONString(b, n.Date)
	return append(b, '}')
}

func (w *baseWorkloads) ingest() error {
	d, batch := w.r.data, w.r.cfg.Batch
	for lo := 0; lo < d.n; lo += batch {
		hi := min(lo+batch, d.n)
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		upsert, history, edge := tx.Stmt(w.st.upsert), tx.Stmt(w.st.history), tx.Stmt(w.st.edge)
		for i := lo; i < hi && err == nil; i++ {
			id := d.ids[i]
			if err = w.writeNode(upsert, history, &w.blob, &w.hist, d.node(&w.nb, id, i)); err != nil {
				break
			}
			for k := range d.edges {
				target, typ := d.edge(i, k)
				var res sql.Result
				if res, err = edge.Exec(id, target, typ); err != nil {
					break
				}
				action := "insert"
				if n, _ := res.RowsAffected(); n == 0 {
					action = "insert_ignored"
				}
				h := append(w.hist[:0], `{"source":`...)
				h = appendJSONString(h, id)
				h = append(h, `,"target":`...)
				h = appendJSONString(h, target)
				h = append(h, `,"type":`...)
				h = appendJSONString(h, typ)
				w.hist = append(h, '}')
				if _, err = history.Exec("edge", id+"|"+target+"|"+typ, action, nil, string(w.hist)); err != nil {
					break
				}
			}
		}
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func (w *baseWorkloads) checkpointSize() (float64, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, err
	}
	var file string
	if err := conn.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return 0, err
	}
	return fileMiB(file)
}

func (w *baseWorkloads) verify() error {
	d := w.r.data
	var nodes, edges, vectors int
	err := w.db.QueryRow(`SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges),
		(SELECT count(*) FROM nodes WHERE length(embedding) > 0)`).Scan(&nodes, &edges, &vectors)
	if err != nil {
		return err
	}
	if nodes != d.n || edges != d.edgeCount() || vectors != d.n {
		return fmt.Errorf("the database holds %d nodes, %d edges, %d vectors; want %d, %d, %d",
			nodes, edges, vectors, d.n, d.edgeCount(), d.n)
	}
	return countHistory(w.db, d.n*(1+d.edges))
}

func (w *baseWorkloads) scan() (int, error) {
	rows, err := w.st.scan.Query()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	nodes := make([]baseNode, 0, w.r.data.n)
	for rows.Next() {
		var n baseNode
		if err := rows.Scan(&n.ID, &n.Type, &n.Title, &n.Domain, &n.Layer, &n.Hash, &n.Summary, &n.Meta, &n.Date); err != nil {
			return 0, err
		}
		nodes = append(nodes, n)
	}
	return len(nodes), rows.Err()
}

func (w *baseWorkloads) getNode(id string) (baseNode, error) {
	n := baseNode{ID: id}
	var blob []byte
	err := w.st.get.QueryRow(id).Scan(&n.Type, &n.Title, &n.Domain, &n.Layer, &blob, &n.Hash, &n.Summary, &n.Meta, &n.Date)
	if err != nil {
		return n, err
	}
	if len(blob)%4 != 0 {
		return n, fmt.Errorf("node %q: embedding of %d bytes", id, len(blob))
	}
	n.Embedding = decodeEmbedding(blob)
	return n, nil
}

func (w *baseWorkloads) get(i int) error {
	n, err := w.getNode(w.r.data.ids[i])
	if err != nil {
		return err
	}
	if len(n.Embedding) != Dim {
		return fmt.Errorf("node %q has %d dimensions, want %d", n.ID, len(n.Embedding), Dim)
	}
	return nil
}

func (w *baseWorkloads) outgoing(i int) (int, error) {
	source := w.r.data.ids[i]
	rows, err := w.st.outgoing.Query(source)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	edges := []baseEdge{}
	for rows.Next() {
		e := baseEdge{Source: source}
		if err := rows.Scan(&e.Target, &e.Type, &e.Confidence, &e.Veracity, &e.ContextSource); err != nil {
			return 0, err
		}
		edges = append(edges, e)
	}
	return len(edges), rows.Err()
}

// outgoingOf runs the library's set-based statement: the sources as a
// JSON array, the edges grouped by source.
func (w *baseWorkloads) outgoingOf(ids []string) (int, error) {
	arr, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	rows, err := w.st.outgoingOf.Query(string(arr))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	m := make(map[string][]baseEdge, len(ids))
	n := 0
	for rows.Next() {
		var e baseEdge
		if err := rows.Scan(&e.Source, &e.Target, &e.Type, &e.Confidence, &e.Veracity, &e.ContextSource); err != nil {
			return 0, err
		}
		m[e.Source] = append(m[e.Source], e)
		n++
	}
	return n, rows.Err()
}

func (w *baseWorkloads) upsertOne(i int) error {
	d := w.r.data
	id := nodeID("w2", i)
	if i < d.n {
		id = d.ids[i]
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := w.writeNode(tx.Stmt(w.st.upsert), tx.Stmt(w.st.history), &w.wblob, &w.whist, d.node(&w.wb, id, i)); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (w *baseWorkloads) read(i int) error {
	_, err := w.getNode(w.r.data.ids[i])
	if isBusy(err) {
		return errBusy
	}
	return err
}

// countHistory checks that the history table holds want rows.
func countHistory(db *sql.DB, want int) error {
	var n int
	if err := db.QueryRow("SELECT count(*) FROM history").Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("history holds %d rows, want %d", n, want)
	}
	return nil
}

func fileMiB(path string) (float64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if wal, err := os.Stat(path + "-wal"); err == nil {
		size += wal.Size()
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	return float64(size) / (1 << 20), nil
}
