// Package originaldb builds databases as the original Resonance Graph
// program (TypeScript on Bun, with drizzle migrations) leaves them: its
// schema after its three migrations, its __drizzle_migrations table, and
// rows like those its code writes. Tests of adoption (X1, X2) use it; it
// opens the file with a plain go-sqlite3 connection, as the original's
// factory would, in WAL mode.
package originaldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver
)

// DDL is the original's schema as its three drizzle migrations create it
// (the third adds nodes.summary as the last column), then drizzle's own
// bookkeeping table.
const DDL = "CREATE TABLE `nodes` (\n" +
	"\t`id` text PRIMARY KEY NOT NULL,\n" +
	"\t`type` text,\n" +
	"\t`title` text,\n" +
	"\t`domain` text,\n" +
	"\t`layer` text,\n" +
	"\t`embedding` blob,\n" +
	"\t`hash` text,\n" +
	"\t`meta` text,\n" +
	"\t`date` text\n" +
	");\n" +
	"CREATE TABLE `edges` (\n" +
	"\t`source` text NOT NULL,\n" +
	"\t`target` text NOT NULL,\n" +
	"\t`type` text NOT NULL,\n" +
	"\t`confidence` real DEFAULT 1,\n" +
	"\t`veracity` real DEFAULT 1,\n" +
	"\t`context_source` text,\n" +
	"\tPRIMARY KEY(`source`, `target`, `type`)\n" +
	");\n" +
	"CREATE INDEX `idx_edges_source` ON `edges` (`source`);\n" +
	"CREATE INDEX `idx_edges_target` ON `edges` (`target`);\n" +
	"CREATE TABLE `ember_state` (\n" +
	"\t`file_path` text PRIMARY KEY NOT NULL,\n" +
	"\t`last_analyzed` text,\n" +
	"\t`sidecar_created` integer,\n" +
	"\t`confidence` real\n" +
	");\n" +
	"CREATE TABLE `history` (\n" +
	"\t`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,\n" +
	"\t`entity_type` text NOT NULL,\n" +
	"\t`entity_id` text NOT NULL,\n" +
	"\t`action` text NOT NULL,\n" +
	"\t`old_value` text,\n" +
	"\t`new_value` text,\n" +
	"\t`timestamp` text DEFAULT CURRENT_TIMESTAMP\n" +
	");\n" +
	"ALTER TABLE `nodes` ADD `summary` text;\n" +
	`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
	id SERIAL PRIMARY KEY,
	hash text NOT NULL,
	created_at numeric
);
`

// Ids of the sample rows every database built here holds.
const (
	NodeFull      = "docs-architecture" // every column set; an embedding of awkward floats
	NodeNullType  = "null-type"         // type, domain and layer NULL, as other tools write them
	NodeUndefined = "undefined-type"    // inserted without a type: the original stores "undefined"
	NodeConcept   = "lexicon-resonance" // a lexicon concept with meta.aliases
	MissingNode   = "missing-node"      // an edge points at it; no such node
)

// Options change what Create builds.
type Options struct {
	// DDL replaces the schema (to build lookalikes); empty means DDL.
	DDL string
	// ExtraNodes adds that many generated nodes (384 floats each, a ~10 KB
	// history row each) and one edge from each to the previous one.
	ExtraNodes int
}

// Counts are the rows Create wrote, table by table.
type Counts struct {
	Nodes, Edges, EmberState, History, Drizzle int
	// The NULLs the sample rows hold in columns the adopted schema declares
	// NOT NULL.
	NullType, NullDomain, NullLayer, NullConfidence, NullVeracity, NullSidecar, NullTimestamp int
}

// Dim is the length of the generated embeddings.
const Dim = 384

// Create builds the database at path, which must not exist, and returns
// what it wrote. The connection is closed on return, so the -wal is
// checkpointed into the file.
func Create(ctx context.Context, path string, o Options) (Counts, error) {
	var c Counts
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, err
	}
	db, err := sql.Open("sqlite3", (&url.URL{Scheme: "file", Path: abs, RawQuery: "_busy_timeout=5000"}).String())
	if err != nil {
		return c, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ddl := o.DDL
	if ddl == "" {
		ddl = DDL
	}
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		err = fill(ctx, tx, ddl, o.ExtraNodes, &c)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	if err != nil {
		return c, fmt.Errorf("originaldb: building %q: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		return c, err
	}
	return c, db.Close()
}

func fill(ctx context.Context, tx *sql.Tx, ddl string, extra int, c *Counts) error {
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	for i, name := range []string{"0000_create_graph", "0001_add_history", "0002_add_node_summary"} {
		sum := sha256.Sum256([]byte(name))
		if _, err := tx.ExecContext(ctx, `INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`,
			hex.EncodeToString(sum[:]), 1714557600000+int64(i)*86400000); err != nil {
			return err
		}
		c.Drizzle++
	}

	nodes := []node{
		{id: NodeFull, typ: "note", title: "Architecture", domain: "knowledge", layer: "experience",
			embedding: awkwardFloats(), hash: "9f86d081884c7d65", meta: `{"tags":["design"],"semantic_tokens":{"wal":3}}`,
			date: "2024-05-01", summary: "How the parts fit."},
		{id: NodeNullType, null: true},
		{id: NodeUndefined, typ: "undefined", title: "Untitled", domain: "knowledge", layer: "experience",
			embedding: generated(7, 8), meta: `{}`},
		{id: NodeConcept, typ: "concept", title: "Resonance", domain: "lexicon", layer: "experience",
			meta: `{"aliases":["echo","reverb"],"definition":"a shared vibration"}`},
	}
	for i := range extra {
		nodes = append(nodes, node{id: fmt.Sprintf("notes-%05d", i), typ: "note", title: fmt.Sprintf("Note %d", i),
			domain: "knowledge", layer: "experience", embedding: generated(i+100, Dim), meta: fmt.Sprintf(`{"n":%d}`, i),
			date: "2024-06-01"})
	}
	for _, n := range nodes {
		if err := n.insert(ctx, tx); err != nil {
			return err
		}
		if n.null {
			c.NullType++
			c.NullDomain++
			c.NullLayer++
		}
		c.Nodes++
		c.History++
	}

	one, half, quarter := 1.0, 0.5, 0.25
	edges := []edge{
		{NodeFull, NodeNullType, "related_to", &one, &one, ""},
		{NodeFull, MissingNode, "mentions", &one, &one, ""},
		{NodeUndefined, NodeFull, "supports", nil, &half, "ember"},
		{NodeNullType, NodeUndefined, "related_to", &quarter, nil, ""},
	}
	for i := 1; i < extra; i++ {
		edges = append(edges, edge{fmt.Sprintf("notes-%05d", i), fmt.Sprintf("notes-%05d", i-1), "follows", &one, &one, ""})
	}
	for _, e := range edges {
		if err := e.insert(ctx, tx); err != nil {
			return err
		}
		if e.confidence == nil {
			c.NullConfidence++
		}
		if e.veracity == nil {
			c.NullVeracity++
		}
		c.Edges++
		c.History++
	}
	// The original writes a history row for an edge insert that was ignored.
	if err := edges[0].insert(ctx, tx); err != nil {
		return err
	}
	c.History++

	for _, q := range []string{
		`INSERT INTO ember_state (file_path, last_analyzed, sidecar_created, confidence) VALUES ('docs/architecture.md', '2024-05-01T10:00:00.000Z', NULL, 0.9)`,
		`INSERT INTO ember_state (file_path, last_analyzed, sidecar_created, confidence) VALUES ('src/index.ts', '2024-05-02T11:30:00.000Z', 1, NULL)`,
		// A meta update, with old and new value, and a row written by
		// another tool without a timestamp.
		`INSERT INTO history (entity_type, entity_id, action, old_value, new_value) VALUES ('node', '` + NodeFull + `', 'update_meta', '{"tags":[]}', '{"tags":["design"]}')`,
		`INSERT INTO history (entity_type, entity_id, action, old_value, new_value, timestamp) VALUES ('node', '` + NodeConcept + `', 'touch', NULL, NULL, NULL)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	c.EmberState += 2
	c.NullSidecar++
	c.History += 2
	c.NullTimestamp++
	return nil
}

type node struct {
	id, typ, title, domain, layer string
	embedding                     []float32
	hash, meta, date, summary     string
	null                          bool // every column but id NULL
}

// insert writes n and its history row as the original's insertNode does:
// the whole node as JSON, the embedding as an object of numbers.
func (n node) insert(ctx context.Context, tx *sql.Tx) error {
	if n.null {
		if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (id) VALUES (?)`, n.id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO history (entity_type, entity_id, action, new_value) VALUES ('node', ?, 'upsert', ?)`,
			n.id, `{"id":"`+n.id+`"}`)
		return err
	}
	var blob []byte
	if n.embedding != nil {
		blob = Blob(n.embedding)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO nodes (id, type, title, domain, layer, embedding, hash, meta, date, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n.id, n.typ, n.title, n.domain, n.layer, blob, nullable(n.hash), n.meta, nullable(n.date), nullable(n.summary)); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"type":%q,"title":%q,"domain":%q,"layer":%q,"embedding":`, n.id, n.typ, n.title, n.domain, n.layer)
	if n.embedding == nil {
		b.WriteString("null")
	} else {
		b.WriteByte('{')
		for i, f := range n.embedding {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d":%s`, i, jsNumber(float64(f)))
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, `,"hash":%q,"meta":%s,"date":%q}`, n.hash, n.meta, n.date)
	_, err := tx.ExecContext(ctx, `INSERT INTO history (entity_type, entity_id, action, new_value) VALUES ('node', ?, 'upsert', ?)`, n.id, b.String())
	return err
}

type edge struct {
	source, target, typ  string
	confidence, veracity *float64
	contextSource        string
}

// insert writes e as the original's insertEdge does: insert-or-ignore, and
// one history row whether or not the edge was new.
func (e edge) insert(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO edges (source, target, type, confidence, veracity, context_source) VALUES (?, ?, ?, ?, ?, ?)`,
		e.source, e.target, e.typ, e.confidence, e.veracity, nullable(e.contextSource)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO history (entity_type, entity_id, action, new_value) VALUES ('edge', ?, 'insert', ?)`,
		e.source+"->"+e.target, fmt.Sprintf(`{"source":%q,"target":%q,"type":%q}`, e.source, e.target, e.typ))
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Blob encodes v as the original stores an embedding: raw little-endian
// float32.
func Blob(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// awkwardFloats is an embedding of Dim floats whose bits a careless copy
// would change: negative zero, the smallest subnormal, the largest finite
// float32, values with no short decimal form.
func awkwardFloats() []float32 {
	v := generated(1, Dim)
	v[0] = float32(math.Copysign(0, -1))
	v[1] = math.Float32frombits(1)
	v[2] = math.MaxFloat32
	v[3] = -math.SmallestNonzeroFloat32
	v[4] = 1.0 / 3
	return v
}

// generated returns n deterministic floats in (-1, 1) drawn from seed.
func generated(seed, n int) []float32 {
	v := make([]float32, n)
	x := uint32(seed)*2654435761 + 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v[i] = float32(int32(x)) / (1 << 31)
	}
	return v
}

// jsNumber formats f as JavaScript's JSON.stringify does for the doubles a
// Float32Array holds: the shortest round-trip decimal, exponent form below
// 1e-6 with no leading zero in the exponent.
func jsNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	return strings.NewReplacer("e-0", "e-", "e+0", "e+").Replace(s)
}

// Tables are the original's four tables of data with their columns (the
// same names in the adopted schema) and their keys.
var Tables = []struct{ Name, Columns, Key string }{
	{"nodes", "id, type, title, domain, layer, embedding, hash, summary, meta, date", "id"},
	{"edges", "source, target, type, confidence, veracity, context_source", "source, target, type"},
	{"ember_state", "file_path, last_analyzed, sidecar_created, confidence", "file_path"},
	{"history", "id, entity_type, entity_id, action, old_value, new_value, timestamp", "id"},
}

// Dump returns every row of Tables through q, in key order, each value as
// SQLite's quote() writes it (so a changed type or a changed bit shows),
// keyed by column name.
func Dump(ctx context.Context, q *sql.DB) (map[string][]map[string]string, error) {
	out := map[string][]map[string]string{}
	for _, t := range Tables {
		cols := strings.Split(t.Columns, ", ")
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = "quote(" + c + ")"
		}
		rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+t.Name+" ORDER BY "+t.Key)
		if err != nil {
			return nil, fmt.Errorf("originaldb: reading %s: %w", t.Name, err)
		}
		for rows.Next() {
			vals := make([]string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			row := make(map[string]string, len(cols))
			for i, c := range cols {
				row[c] = vals[i]
			}
			out[t.Name] = append(out[t.Name], row)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
