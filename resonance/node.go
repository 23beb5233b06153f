package resonance

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/internal/packed"
)

// UpsertNode inserts n, or replaces every column of the node with n's id
// (D1), and adds one history row ("node", id, "upsert") holding the node as
// JSON with its embedding as {"dim":N,"sha256":"…"}. An empty Domain is
// stored as "knowledge", an empty Layer as "experience"; empty Title,
// Hash, Summary, Date and Meta (or a JSON null Meta) are stored as NULL and
// read back as empty. Meta is stored as the exact text given.
//
// Bad input is refused with an error wrapping ErrInvalid that names the node,
// before any SQL runs (D9): an empty (or all white space) id or type, Meta
// that is not a JSON object, NaN or ±Inf in Embedding. On any error the
// caller should return it from its Tx function, so that the transaction
// rolls back.
func (t *Tx) UpsertNode(ctx context.Context, n Node) error {
	return t.UpsertNodes(ctx, []Node{n})
}

// UpsertNodes upserts each of nodes as UpsertNode does, in order (a later
// node with the same id replaces an earlier one), with one history row
// each. It writes up to 32 nodes, and then their history rows, per
// statement: for imports, it is several times cheaper than a loop over
// UpsertNode.
//
// Every node is checked before any SQL runs: one bad node refuses the
// whole call, naming it and its index, and writes nothing. An error from
// SQLite may come after some of the nodes were written: return it from
// the Tx function, so that the transaction rolls back.
func (t *Tx) UpsertNodes(ctx context.Context, nodes []Node) error {
	ws := make([]nodeWrite, len(nodes))
	for i := range nodes {
		w, err := prepareNode(&nodes[i])
		if err != nil {
			if len(nodes) > 1 {
				err = fmt.Errorf("%w (nodes[%d])", err, i)
			}
			return err
		}
		ws[i] = w
	}
	if len(nodes) == 0 {
		return nil
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: %s: %w", nodesName(nodes), err)
	}
	args := make([]any, 0, 10*min(len(nodes), maxChunkRows))
	hist := make([]historyRow, 0, min(len(nodes), maxChunkRows))
	var h []byte
	for len(nodes) > 0 {
		k := chunkRows(len(nodes))
		args, hist = args[:0], hist[:0]
		for i := range nodes[:k] {
			n, w := &nodes[i], &ws[i]
			args = append(args, n.ID, n.Type, nullString(n.Title), w.domain, w.layer, w.blob,
				nullString(n.Hash), nullString(n.Summary), sql.NullString{String: string(w.meta), Valid: w.meta != nil}, nullString(n.Date))
			h = nodeJSON(h[:0], n, w.domain, w.layer, w.blob, w.meta)
			hist = append(hist, historyRow{entity: entityNode, id: n.ID, action: actionUpsert, new: sql.NullString{String: string(h), Valid: true}})
		}
		if _, err := t.conn.ExecContext(ctx, upsertNodeRows.text(k), args...); err != nil {
			return fmt.Errorf("resonance: %s: %w", nodesName(nodes[:k]), classify(err))
		}
		if err := t.insertHistory(ctx, hist); err != nil {
			return fmt.Errorf("resonance: %s: history: %w", nodesName(nodes[:k]), classify(err))
		}
		nodes, ws = nodes[k:], ws[k:]
	}
	return nil
}

// nodesName names the nodes of one statement in an error.
func nodesName(nodes []Node) string {
	if len(nodes) == 1 {
		return fmt.Sprintf("upsert node %q", nodes[0].ID)
	}
	return fmt.Sprintf("upsert %d nodes %q … %q", len(nodes), nodes[0].ID, nodes[len(nodes)-1].ID)
}

// nodeWrite is a validated node's columns that need more than the Node
// itself: the defaults applied, the encoded embedding and the meta text.
type nodeWrite struct {
	domain, layer string // with the defaults applied
	blob          []byte // the embedding column, nil for NULL
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
	if bad := invalidText(n.ID, n.Type, n.Title, n.Domain, n.Layer, n.Hash, n.Summary, n.Date); bad != "" {
		return nodeWrite{}, invalid("%s", bad)
	}
	meta, err := checkMeta(n.Meta)
	if err != nil {
		return nodeWrite{}, invalid("%v", err)
	}
	blob, err := encodeEmbedding(n.Embedding)
	if err != nil {
		return nodeWrite{}, invalid("%v", err)
	}
	w := nodeWrite{domain: n.Domain, layer: n.Layer, blob: blob, meta: meta}
	if w.domain == "" {
		w.domain = defaultDomain
	}
	if w.layer == "" {
		w.layer = defaultLayer
	}
	return w, nil
}

// GetNode returns the node with this id. It returns an error wrapping
// ErrNotFound, naming the id, when there is none. When its stored
// embedding is not a whole finite float32 vector (a length that is not a
// multiple of 4, NaN or ±Inf values; the store never writes one, another
// program may have), it returns the rest of the node, Embedding nil, with
// an error wrapping ErrInvalid that names it.
func (r *ReadTx) GetNode(ctx context.Context, id string) (Node, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return Node{}, fmt.Errorf("resonance: get node %q: %w", id, err)
	}
	defer done()
	row, err := r.pq.GetNodePacked(ctx, id)
	if err != nil {
		return Node{}, notFound("get node", id, err)
	}
	n := Node{ID: id}
	if err := unpackNode(&n, row.Packed, false); err != nil {
		return Node{}, fmt.Errorf("resonance: get node %q: %w", id, err)
	}
	if n.Embedding, err = decodeOwnedEmbedding(row.Embedding); err != nil {
		return n, fmt.Errorf("resonance: get node %q: %w: returned without its stored embedding, which is not a whole finite float32 vector: %w; `resonance doctor` says how to fix it", id, ErrInvalid, err)
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
// A negative Limit or Offset is refused with ErrInvalid. Nodes whose
// stored embedding is not a whole finite float32 vector come back without
// it (Embedding nil) among the others, and the call returns the nodes
// with an error wrapping ErrInvalid that names them.
func (r *ReadTx) GetNodes(ctx context.Context, f NodeFilter) ([]Node, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("resonance: get nodes: %w: NodeFilter.Limit (%d) and Offset (%d) must not be negative; Limit 0 means all", ErrInvalid, f.Limit, f.Offset)
	}
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: get nodes: %w", err)
	}
	defer done()
	// An empty domain or type is NULL (no filter), a zero limit -1 (none).
	var domain, typ any
	if f.Domain != "" {
		domain = f.Domain
	}
	if f.Type != "" {
		typ = f.Type
	}
	limit := int64(f.Limit)
	if limit == 0 {
		limit = -1
	}
	if f.SkipEmbedding {
		rows, err := r.pq.ListNodesWithoutEmbeddingPacked(ctx, packed.ListNodesWithoutEmbeddingPackedParams{Domain: domain, Type: typ, Limit: limit, Offset: int64(f.Offset)})
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
	rows, err := r.pq.ListNodesPacked(ctx, packed.ListNodesPackedParams{Domain: domain, Type: typ, Limit: limit, Offset: int64(f.Offset)})
	if err != nil {
		return nil, fmt.Errorf("resonance: get nodes: %w", classify(err))
	}
	nodes := make([]Node, len(rows))
	var bad []string
	for i := range rows {
		row, n := &rows[i], &nodes[i]
		if err := unpackNode(n, row.Packed, true); err != nil {
			return nil, fmt.Errorf("resonance: get nodes: %w", err)
		}
		if n.Embedding, err = decodeOwnedEmbedding(row.Embedding); err != nil {
			bad = append(bad, fmt.Sprintf("%q (%v)", n.ID, err))
		}
	}
	if len(bad) > 0 {
		n := len(bad)
		if n > 10 {
			bad = append(bad[:10], fmt.Sprintf("and %d more", n-10))
		}
		return nodes, fmt.Errorf("resonance: get nodes: %w: %d node(s) returned without their stored embedding, which is not a whole finite float32 vector: %s; `resonance doctor` lists every such node and the fix",
			ErrInvalid, n, strings.Join(bad, ", "))
	}
	return nodes, nil
}

// NodeHash returns the hash column of the node with this id ("" when it has
// none), or an error wrapping ErrNotFound when there is no such node.
func (r *ReadTx) NodeHash(ctx context.Context, id string) (string, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return "", fmt.Errorf("resonance: node hash %q: %w", id, err)
	}
	defer done()
	h, err := r.q.GetNodeHash(ctx, id)
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
	if blank(id) {
		return fmt.Errorf("resonance: update node meta: %w: id is empty", ErrInvalid)
	}
	m, err := checkMeta(meta)
	if err != nil {
		return fmt.Errorf("resonance: update node meta %q: %w: %w", id, ErrInvalid, err)
	}
	return t.updateNode(ctx, "update node meta", id, actionUpdateMeta, sql.NullString{String: string(m), Valid: m != nil},
		t.q.GetNodeMeta, func(v sql.NullString) error {
			_, err := t.q.UpdateNodeMeta(ctx, db.UpdateNodeMetaParams{Meta: v, ID: id})
			return err
		})
}

// UpdateNodeDate sets the date of the node with this id ("" clears it) and
// adds one history row ("node", id, "update_date") with the old and new
// date. An empty id is refused with ErrInvalid; a missing node returns
// ErrNotFound and writes nothing.
func (t *Tx) UpdateNodeDate(ctx context.Context, id, date string) error {
	if blank(id) {
		return fmt.Errorf("resonance: update node date: %w: id is empty", ErrInvalid)
	}
	return t.updateNode(ctx, "update node date", id, actionUpdateDate, nullString(date),
		t.q.GetNodeDate, func(v sql.NullString) error {
			_, err := t.q.UpdateNodeDate(ctx, db.UpdateNodeDateParams{Date: v, ID: id})
			return err
		})
}

// updateNode sets one column of a node with set, after reading its old
// value with get, and records both in a history row.
func (t *Tx) updateNode(ctx context.Context, op, id, action string, v sql.NullString,
	get func(context.Context, string) (sql.NullString, error), set func(sql.NullString) error) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, id, err)
	}
	old, err := get(ctx, id)
	if err != nil {
		return notFound(op, id, err)
	}
	if err := set(v); err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, id, classify(err))
	}
	if err := t.insertHistory(ctx, []historyRow{{entity: entityNode, id: id, action: action, old: old, new: v}}); err != nil {
		return fmt.Errorf("resonance: %s %q: history: %w", op, id, classify(err))
	}
	return nil
}

// checkMeta validates meta for the nodes.meta column: nil (NULL) when it is
// empty, blank or JSON null; meta itself when it is a JSON object; an error
// saying what it is otherwise.
func checkMeta(meta json.RawMessage) ([]byte, error) {
	t := bytes.TrimLeft(meta, " \t\r\n")
	if len(t) == 0 {
		return nil, nil
	}
	if !utf8.Valid(meta) {
		return nil, errors.New("meta is not valid UTF-8")
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

// DeleteNodes deletes the nodes with these ids and every edge whose source
// or target is one of them (D11), and adds one history row per removal:
// ("edge", "source|target|type", "delete") for each edge, then ("node", id,
// "delete") for each node, each with the removed row as JSON in old_value
// (as UpsertNode and UpsertSemanticEdge record them). Whatever the number
// of ids, the nodes go in one statement and their edges in another. An id
// given twice is deleted once.
//
// When an id names no node it returns an error wrapping ErrNotFound that
// names it, and writes nothing. Once the transaction commits, the nodes are
// gone for every reader and every search, of this process or another.
func (t *Tx) DeleteNodes(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	op := fmt.Sprintf("delete node %q", ids[0])
	if len(ids) > 1 {
		op = fmt.Sprintf("delete %d nodes %q … %q", len(ids), ids[0], ids[len(ids)-1])
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: %s: %w", op, err)
	}
	arg := hexIDs(ids)
	found, err := t.q.ExistingNodeIDs(ctx, arg)
	if err != nil {
		return fmt.Errorf("resonance: %s: %w", op, classify(err))
	}
	if missing := missingIDs(ids, found); len(missing) > 0 {
		return fmt.Errorf("resonance: %s: %w: no node with id %q (%d of the ids name no node)", op, ErrNotFound, missing[0], len(missing))
	}
	edges, err := t.q.DeleteEdgesOfNodes(ctx, arg)
	if err != nil {
		return fmt.Errorf("resonance: %s: edges: %w", op, classify(err))
	}
	nodes, err := t.q.DeleteNodesReturning(ctx, arg)
	if err != nil {
		return fmt.Errorf("resonance: %s: %w", op, classify(err))
	}
	// The history rows come in a fixed order, whatever order the
	// statements returned: the edges by key, then the nodes as given.
	slices.SortFunc(edges, func(a, b db.Edge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target), strings.Compare(a.Type, b.Type))
	})
	order := make(map[string]int, len(ids))
	for i, id := range ids {
		if _, ok := order[id]; !ok {
			order[id] = i
		}
	}
	slices.SortFunc(nodes, func(a, b db.DeleteNodesReturningRow) int { return cmp.Compare(order[a.ID], order[b.ID]) })
	hist := make([]historyRow, 0, len(edges)+len(nodes))
	for i := range edges {
		r := &edges[i]
		e := Edge{Source: r.Source, Target: r.Target, Type: r.Type, Confidence: r.Confidence, Veracity: r.Veracity, ContextSource: r.ContextSource.String}
		hist = append(hist, deletedEdgeRow(&e))
	}
	for i := range nodes {
		r := &nodes[i]
		n := Node{ID: r.ID, Type: r.Type, Title: r.Title.String, Hash: r.Hash.String, Summary: r.Summary.String, Date: r.Date.String}
		old := nodeJSON(nil, &n, r.Domain, r.Layer, r.Embedding, storedMetaJSON(r.Meta))
		hist = append(hist, historyRow{entity: entityNode, id: r.ID, action: actionDelete, old: sql.NullString{String: string(old), Valid: true}})
	}
	if err := t.insertHistory(ctx, hist); err != nil {
		return fmt.Errorf("resonance: %s: history: %w", op, classify(err))
	}
	return nil
}

// hexIDs is ids as the deletes take them: a JSON array of hex strings,
// which carries any id whole (one that is not valid UTF-8 or holds a NUL
// too, as another program may have written it).
func hexIDs(ids []string) string {
	b := make([]byte, 0, 2+len(ids)*4)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, []byte(id))
		b = append(b, '"')
	}
	return string(append(b, ']'))
}

// missingIDs returns the ids that are not in found, each once, in order.
func missingIDs(ids, found []string) []string {
	have := make(map[string]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	var missing []string
	for _, id := range ids {
		if !have[id] {
			have[id] = true // name it once
			missing = append(missing, id)
		}
	}
	return missing
}

// storedMetaJSON is a stored meta column as nodeJSON takes it: nil for
// NULL, the text itself when it is a JSON object, and otherwise (written by
// another program) the text as a JSON string, so that the record stays
// JSON.
func storedMetaJSON(m sql.NullString) []byte {
	if !m.Valid {
		return nil
	}
	if meta, err := checkMeta(json.RawMessage(m.String)); err == nil {
		return meta
	}
	return appendJSONString(nil, m.String)
}
