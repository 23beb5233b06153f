package resonance

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/resonance-graph/resonancedb/db"
)

// UpsertNode inserts n, or replaces every column of the node with n's id
// (D1), and adds one history row ("node", id, "upsert") holding the node as
// JSON with its embedding as {"dim":N,"sha256":"…"}, in the caller's
// transaction. An empty Domain is stored as DefaultDomain, an empty Layer
// as DefaultLayer; empty Title, Hash, Summary, Date and Meta (or a JSON null
// Meta) are stored as NULL and read back as empty. Meta is stored as the
// exact text given.
//
// Bad input is refused with an error wrapping ErrInvalid that names the node,
// before any SQL runs (D9): an empty (or all white space) id or type, Meta
// that is not a JSON object, NaN or ±Inf in Embedding. In a Read transaction it fails with
// ErrReadOnly. On any error the caller should return it from its Tx
// function, so that the transaction rolls back.
func (t *Tx) UpsertNode(ctx context.Context, n Node) error {
	w, err := prepareNode(&n)
	if err != nil {
		return err
	}
	return t.upsertNode(ctx, &w)
}

// UpsertNode is Tx.UpsertNode in a write transaction of its own: the node
// and its history row are written together or not at all. Bad input is
// refused with ErrInvalid before the transaction begins.
func (s *Store) UpsertNode(ctx context.Context, n Node) error {
	w, err := prepareNode(&n)
	if err != nil {
		return err
	}
	return s.writeOne(ctx, func(t *Tx) error {
		return t.upsertNode(ctx, &w)
	})
}

// nodeWrite is a validated node, ready for the two statements of an
// upsert. It shares the memory of the caller's Node: its strings and
// bytes are read, never kept, while the statements run. (It holds the
// Node itself, not a pointer, so that the Node the caller passed by
// value stays on the stack.)
type nodeWrite struct {
	n             Node
	domain, layer string // with the defaults applied
	blob          []byte // the embedding column (embeddingBlob), nil for NULL
	meta          []byte // n.Meta when it is a JSON object, nil for NULL
}

func prepareNode(n *Node) (nodeWrite, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("resonance: upsert node %s: %w: %s", nodeName(n), ErrInvalid, fmt.Sprintf(format, args...))
	}
	if blank(n.ID) {
		return nodeWrite{}, invalid("id is empty")
	}
	if blank(n.Type) {
		return nodeWrite{}, invalid("type is empty")
	}
	meta, err := checkMeta(n.Meta)
	if err != nil {
		return nodeWrite{}, invalid("%v", err)
	}
	blob, err := embeddingBlob(n.Embedding)
	if err != nil {
		return nodeWrite{}, invalid("%v", err)
	}
	w := nodeWrite{n: *n, domain: n.Domain, layer: n.Layer, blob: blob, meta: meta}
	if w.domain == "" {
		w.domain = DefaultDomain
	}
	if w.layer == "" {
		w.layer = DefaultLayer
	}
	return w, nil
}

// embeddingBlob is EncodeEmbedding for a statement argument, which the
// driver copies before the statement returns: on a little-endian machine
// the column format is the memory of v, and the result is that memory,
// not a copy.
func embeddingBlob(v []float32) ([]byte, error) {
	if !littleEndian || len(v) == 0 {
		return EncodeEmbedding(v)
	}
	if i, bits, ok := firstNonFinite(v); !ok {
		return nil, nonFiniteError(i, bits)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)), nil
}

// upsertNode writes the node on the transaction's driver connection
// (rawtx.go) and queues its history row (historyqueue.go).
func (t *Tx) upsertNode(ctx context.Context, w *nodeWrite) error {
	n := &w.n
	var stage string
	err := t.raw(ctx, func(rc rawConn) error {
		defer clear(t.args[:])
		id := driver.Value(n.ID)
		var blob, meta driver.Value
		if w.blob != nil {
			blob = w.blob
		}
		if w.meta != nil {
			meta = bytesText(w.meta)
		}
		a := t.args[:10]
		a[0] = arg(1, id)
		a[1] = arg(2, n.Type)
		a[2] = arg(3, nullable(n.Title))
		a[3] = arg(4, textValue(w.domain))
		a[4] = arg(5, textValue(w.layer))
		a[5] = arg(6, blob)
		a[6] = arg(7, nullable(n.Hash))
		a[7] = arg(8, nullable(n.Summary))
		a[8] = arg(9, meta)
		a[9] = arg(10, nullable(n.Date))
		if err := rc.run(sqlUpsertNode, a); err != nil {
			return err
		}
		stage = "history: "
		h := t.hist.appendText(func(b []byte) []byte { return nodeJSON(b, n, w.domain, w.layer, w.blob, w.meta) })
		return t.hist.add(rc, entityNode, id, actionUpsert, nil, h)
	})
	if err != nil {
		return wrapWriteError(fmt.Sprintf("upsert node %q", n.ID), stage, err)
	}
	return nil
}

// GetNode returns the node with this id. It returns an error wrapping
// ErrNotFound, naming the id, when there is none, and one wrapping
// ErrInvalid when its stored embedding is corrupt (a length that is not a
// multiple of 4, or NaN or ±Inf values).
func (t *Tx) GetNode(ctx context.Context, id string) (Node, error) {
	return getNode(ctx, t.Queries(), id)
}

// GetNode is Tx.GetNode on a read-only connection. The single SELECT
// reads one consistent snapshot, so it needs no transaction of its own.
// It returns ErrNotFound, ErrInvalid (corrupt embedding) or ErrClosed.
//
// It reads on a reader's driver connection (fastpath.go).
func (s *Store) GetNode(ctx context.Context, id string) (Node, error) {
	return s.getNodeRaw(ctx, id)
}

func getNode(ctx context.Context, q *db.Queries, id string) (Node, error) {
	r, err := q.GetNodePacked(ctx, id)
	if err != nil {
		return Node{}, notFound("get node", id, err)
	}
	n := Node{ID: id}
	if err := unpackNode(&n, r.Packed, false); err != nil {
		return Node{}, fmt.Errorf("resonance: get node %q: %w", id, err)
	}
	if n.Embedding, err = decodeStored(r.Embedding, "get node", id); err != nil {
		return Node{}, err
	}
	return n, nil
}

// GetNodes returns the nodes that match f in rowid order (the order they
// were first inserted), skipping f.Offset of them and returning at most
// f.Limit (0: all). Empty Domain and Type do not filter. With
// f.SkipEmbedding the embedding column is not read and every Embedding is
// nil, for metadata scans. The result is an empty, non-nil slice when
// nothing matches.
//
// A negative Limit or Offset is refused with ErrInvalid. A node whose
// stored embedding is corrupt fails the call with ErrInvalid naming it.
func (t *Tx) GetNodes(ctx context.Context, f NodeFilter) ([]Node, error) {
	return getNodes(ctx, t.Queries(), f)
}

// GetNodes is Tx.GetNodes on a read-only connection; the single SELECT is
// one consistent snapshot. It returns ErrInvalid or ErrClosed.
//
// It reads on a reader's driver connection (fastpath.go).
func (s *Store) GetNodes(ctx context.Context, f NodeFilter) ([]Node, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	return s.getNodesRaw(ctx, f)
}

func checkFilter(f NodeFilter) error {
	if f.Limit < 0 || f.Offset < 0 {
		return fmt.Errorf("resonance: get nodes: %w: NodeFilter.Limit (%d) and Offset (%d) must not be negative; Limit 0 means all", ErrInvalid, f.Limit, f.Offset)
	}
	return nil
}

// filterArgs turns f into the arguments of the node scans: an empty
// domain or type is NULL (no filter), a zero limit is -1 (SQLite: none).
func filterArgs(f NodeFilter) (domain, typ any, limit int64) {
	if f.Domain != "" {
		domain = f.Domain
	}
	if f.Type != "" {
		typ = f.Type
	}
	limit = int64(f.Limit)
	if limit == 0 {
		limit = -1
	}
	return domain, typ, limit
}

func getNodes(ctx context.Context, q *db.Queries, f NodeFilter) ([]Node, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	domain, typ, limit := filterArgs(f)
	if f.SkipEmbedding {
		rows, err := q.ListNodesWithoutEmbeddingPacked(ctx, db.ListNodesWithoutEmbeddingPackedParams{Domain: domain, Type: typ, Limit: limit, Offset: int64(f.Offset)})
		if err != nil {
			return nil, fmt.Errorf("resonance: get nodes: %w", classify(err))
		}
		nodes := make([]Node, len(rows))
		for i := range rows {
			if err := unpackNode(&nodes[i], rows[i], true); err != nil {
				return nil, fmt.Errorf("resonance: get nodes: %w", err)
			}
		}
		return nodes, nil
	}
	rows, err := q.ListNodesPacked(ctx, db.ListNodesPackedParams{Domain: domain, Type: typ, Limit: limit, Offset: int64(f.Offset)})
	if err != nil {
		return nil, fmt.Errorf("resonance: get nodes: %w", classify(err))
	}
	nodes := make([]Node, len(rows))
	for i := range rows {
		r, n := &rows[i], &nodes[i]
		if err := unpackNode(n, r.Packed, true); err != nil {
			return nil, fmt.Errorf("resonance: get nodes: %w", err)
		}
		// Scan gave the row its own copy of the blob.
		if n.Embedding, err = decodeStored(r.Embedding, "get nodes", n.ID); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// decodeStored decodes a node's embedding column, bytes the caller owns
// and does not use afterwards; a corrupt one is an ErrInvalid naming the
// node.
func decodeStored(b []byte, op, id string) ([]float32, error) {
	v, err := decodeOwnedEmbedding(b)
	if err != nil {
		return nil, fmt.Errorf("resonance: %s: node %q: %w: stored embedding is corrupt: %w", op, id, ErrInvalid, err)
	}
	return v, nil
}

// NodeHash returns the hash column of the node with this id ("" when it has
// none), or an error wrapping ErrNotFound when there is no such node.
func (t *Tx) NodeHash(ctx context.Context, id string) (string, error) {
	return nodeHash(ctx, t.Queries(), id)
}

// NodeHash is Tx.NodeHash on a read-only connection. It returns
// ErrNotFound or ErrClosed.
func (s *Store) NodeHash(ctx context.Context, id string) (string, error) {
	q, err := s.readQueries("node hash")
	if err != nil {
		return "", err
	}
	return nodeHash(ctx, q, id)
}

func nodeHash(ctx context.Context, q *db.Queries, id string) (string, error) {
	h, err := q.GetNodeHash(ctx, id)
	if err != nil {
		return "", notFound("node hash", id, err)
	}
	return h.String, nil
}

// UpdateNodeMeta replaces the meta of the node with this id and adds one
// history row ("node", id, "update_meta") whose old_value and new_value
// are the previous and the new meta text (NULL when empty).
//
// meta must be a JSON object; empty or JSON null clears it (NULL). Anything
// else, or an empty id, is refused with ErrInvalid before any SQL runs. A
// missing node returns ErrNotFound and writes nothing.
func (t *Tx) UpdateNodeMeta(ctx context.Context, id string, meta json.RawMessage) error {
	m, err := prepareMeta(id, meta)
	if err != nil {
		return err
	}
	return t.updateNodeMeta(ctx, id, m)
}

// UpdateNodeMeta is Tx.UpdateNodeMeta in a write transaction of its own.
func (s *Store) UpdateNodeMeta(ctx context.Context, id string, meta json.RawMessage) error {
	m, err := prepareMeta(id, meta)
	if err != nil {
		return err
	}
	return s.Tx(ctx, func(t *Tx) error { return t.updateNodeMeta(ctx, id, m) })
}

func prepareMeta(id string, meta json.RawMessage) (sql.NullString, error) {
	if blank(id) {
		return sql.NullString{}, fmt.Errorf("resonance: update node meta: %w: id is empty", ErrInvalid)
	}
	m, err := checkMeta(meta)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("resonance: update node meta %q: %w: %w", id, ErrInvalid, err)
	}
	return sql.NullString{String: string(m), Valid: m != nil}, nil
}

func (t *Tx) updateNodeMeta(ctx context.Context, id string, meta sql.NullString) error {
	q := t.Queries()
	old, err := q.GetNodeMeta(ctx, id)
	if err != nil {
		return notFound("update node meta", id, err)
	}
	if _, err := q.UpdateNodeMeta(ctx, db.UpdateNodeMetaParams{Meta: meta, ID: id}); err != nil {
		return fmt.Errorf("resonance: update node meta %q: %w", id, classify(err))
	}
	if err := insertHistory(ctx, q, entityNode, id, actionUpdateMeta, old, meta); err != nil {
		return fmt.Errorf("resonance: update node meta %q: history: %w", id, classify(err))
	}
	return nil
}

// UpdateNodeDate sets the date of the node with this id ("" clears it) and
// adds one history row ("node", id, "update_date") with the old and new
// date. An empty id is refused with ErrInvalid; a missing node returns
// ErrNotFound and writes nothing.
func (t *Tx) UpdateNodeDate(ctx context.Context, id, date string) error {
	if blank(id) {
		return fmt.Errorf("resonance: update node date: %w: id is empty", ErrInvalid)
	}
	q := t.Queries()
	old, err := q.GetNodeDate(ctx, id)
	if err != nil {
		return notFound("update node date", id, err)
	}
	d := nullString(date)
	if _, err := q.UpdateNodeDate(ctx, db.UpdateNodeDateParams{Date: d, ID: id}); err != nil {
		return fmt.Errorf("resonance: update node date %q: %w", id, classify(err))
	}
	if err := insertHistory(ctx, q, entityNode, id, actionUpdateDate, old, d); err != nil {
		return fmt.Errorf("resonance: update node date %q: history: %w", id, classify(err))
	}
	return nil
}

// UpdateNodeDate is Tx.UpdateNodeDate in a write transaction of its own.
func (s *Store) UpdateNodeDate(ctx context.Context, id, date string) error {
	if blank(id) {
		return fmt.Errorf("resonance: update node date: %w: id is empty", ErrInvalid)
	}
	return s.Tx(ctx, func(t *Tx) error { return t.UpdateNodeDate(ctx, id, date) })
}

// readQueries returns the generated queries bound to the pool of read-only
// connections. A single SELECT is its own consistent snapshot, so one-query
// reads skip the BEGIN and COMMIT of Store.Read (half the cost of a GetNode).
func (s *Store) readQueries(op string) (*db.Queries, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("resonance: %s %q: %w", op, s.path, ErrClosed)
	}
	return db.New(s.readers), nil
}

// checkMeta validates meta for the nodes.meta column: nil (NULL) when it is
// empty, blank or JSON null; meta itself when it is a JSON object; an error
// saying what it is otherwise.
func checkMeta(meta json.RawMessage) ([]byte, error) {
	t := bytes.TrimLeft(meta, " \t\r\n")
	if len(t) == 0 {
		return nil, nil
	}
	if t[0] == '{' {
		if !json.Valid(meta) {
			return nil, errors.New("meta is not valid JSON")
		}
		return meta, nil
	}
	if !json.Valid(meta) {
		return nil, errors.New("meta is not valid JSON")
	}
	kind := "number"
	switch t[0] {
	case 'n':
		return nil, nil // JSON null: no meta
	case '[':
		kind = "array"
	case '"':
		kind = "string"
	case 't', 'f':
		kind = "boolean"
	}
	return nil, fmt.Errorf("meta is a JSON %s, not an object", kind)
}

// nodeName names a node in an error: its id, or what else it has when the
// id is empty.
func nodeName(n *Node) string {
	if !blank(n.ID) {
		return fmt.Sprintf("%q", n.ID)
	}
	return fmt.Sprintf("with empty id (type %q, title %q)", n.Type, n.Title)
}

// notFound turns sql.ErrNoRows into an error wrapping ErrNotFound that
// names the node; other errors are classified.
func notFound(op, id string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("resonance: %s %q: %w: no node with this id", op, id, ErrNotFound)
	}
	return fmt.Errorf("resonance: %s %q: %w", op, id, classify(err))
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
