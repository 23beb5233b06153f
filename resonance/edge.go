package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/db"
)

// InsertEdge adds the edge source → target of type typ (empty: "related_to")
// with confidence and veracity 1, unless an edge with that key exists
// already, in which case it is left as it is (D2, INSERT OR IGNORE). Either
// way it adds exactly one history row ("edge", "source|target|type") with
// action "insert", or "insert_ignored" when the edge existed. The nodes need
// not exist.
//
// An empty source, target or type is refused with an error wrapping
// ErrInvalid that names the edge, before any SQL runs (D9).
func (t *Tx) InsertEdge(ctx context.Context, source, target, typ string) error {
	return t.InsertEdges(ctx, []Edge{{Source: source, Target: target, Type: typ}})
}

// InsertEdges inserts each of edges as InsertEdge does, in order, with one
// history row each (an edge given twice is inserted, then ignored). Only
// the key of each edge is written: an edge whose Confidence, Veracity or
// ContextSource is set is refused (use UpsertSemanticEdge). It writes up to
// 32 edges, and then their history rows, per statement: for imports, it is
// several times cheaper than a loop over InsertEdge.
//
// Every edge is checked before any SQL runs: one bad edge refuses the
// whole call, naming it and its index, and writes nothing. An error from
// SQLite may come after some of the edges were written: return it from
// the Tx function, so that the transaction rolls back.
func (t *Tx) InsertEdges(ctx context.Context, edges []Edge) error {
	es := make([]Edge, len(edges))
	for i, e := range edges {
		err := prepareEdge("insert edge", &e, false)
		if err == nil && (e.Confidence != 0 || e.Veracity != 0 || e.ContextSource != "") {
			err = fmt.Errorf("resonance: insert edge %s: %w: InsertEdges writes only the key; "+
				"use UpsertSemanticEdge for confidence, veracity and context source", edgeName(&e), ErrInvalid)
		}
		if err != nil {
			if len(edges) > 1 {
				err = fmt.Errorf("%w (edges[%d])", err, i)
			}
			return err
		}
		es[i] = e
	}
	if len(es) == 0 {
		return nil
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: %s: %w", edgesName(es), err)
	}
	args := make([]any, 0, 3*min(len(es), maxChunkRows))
	hist := make([]historyRow, 0, min(len(es), maxChunkRows))
	for len(es) > 0 {
		k := chunkRows(len(es))
		chunk := es[:k]
		args = args[:0]
		for i := range chunk {
			args = append(args, chunk[i].Source, chunk[i].Target, chunk[i].Type)
		}
		inserted, err := t.insertEdgeRows(ctx, k, args)
		if err != nil {
			return fmt.Errorf("resonance: %s: %w", edgesName(chunk), classify(err))
		}
		hist = hist[:0]
		for i := range chunk {
			e := &chunk[i]
			// All were new (inserted is nil), or the first of equal keys
			// in the chunk is the one inserted.
			action := actionInsert
			if inserted != nil {
				key := edgeKey{e.Source, e.Target, e.Type}
				if inserted[key] > 0 {
					inserted[key]--
				} else {
					action = actionInsertIgnored
				}
			}
			hist = append(hist, historyRow{entity: entityEdge, id: string(appendEdgeEntityID(nil, e.Source, e.Target, e.Type)),
				action: action, new: sql.NullString{String: string(edgeJSON(nil, e, false)), Valid: true}})
		}
		if err := t.insertHistory(ctx, hist); err != nil {
			return fmt.Errorf("resonance: %s: history: %w", edgesName(chunk), classify(err))
		}
		es = es[k:]
	}
	return nil
}

type edgeKey struct{ source, target, typ string }

// insertEdgeRows inserts k edges whose keys are args. It returns nil when
// every one was new, and otherwise the count of each key it inserted.
//
// An import writes new edges: a plain INSERT inserts them all. When one of
// them exists (or the chunk holds a key twice), the INSERT fails on the
// key and SQLite undoes that statement alone; the edges then go in with
// INSERT OR IGNORE … RETURNING, which names each edge it inserted.
// (Always asking RETURNING costs every row a round trip to the driver.)
func (t *Tx) insertEdgeRows(ctx context.Context, k int, args []any) (map[edgeKey]int, error) {
	_, err := t.conn.ExecContext(ctx, newEdgeRows.text(k), args...)
	if err == nil {
		return nil, nil
	}
	if _, ext, ok := sqliteCode(err); !ok || (ext != sqlite3.ErrConstraintPrimaryKey && ext != sqlite3.ErrConstraintUnique) {
		return nil, err
	}
	rows, err := t.conn.QueryContext(ctx, insertOrIgnoreEdgeRows.text(k), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inserted := make(map[edgeKey]int, k)
	for rows.Next() {
		var key edgeKey
		if err := rows.Scan(&key.source, &key.target, &key.typ); err != nil {
			return nil, err
		}
		inserted[key]++
	}
	return inserted, rows.Err()
}

// edgesName names the edges of one statement in an error.
func edgesName(es []Edge) string {
	if len(es) == 1 {
		return "insert edge " + edgeName(&es[0])
	}
	return fmt.Sprintf("insert %d edges %s … %s", len(es), edgeName(&es[0]), edgeName(&es[len(es)-1]))
}

// UpsertSemanticEdge inserts e, or updates the confidence, veracity and
// context source of the edge with e's (Source, Target, Type) key (D3), and
// adds one history row ("edge", "source|target|type", "upsert") holding the
// edge as JSON.
//
// An empty Type is "related_to" and an empty ContextSource is stored as
// NULL. Confidence and Veracity are stored as given, 0 included: set both.
//
// An empty source, target or type, or a NaN or ±Inf confidence or veracity,
// is refused with an error wrapping ErrInvalid that names the edge, before
// any SQL runs (D9).
func (t *Tx) UpsertSemanticEdge(ctx context.Context, e Edge) error {
	if err := prepareEdge("upsert edge", &e, true); err != nil {
		return err
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: upsert edge %s: %w", edgeName(&e), err)
	}
	err := t.q.UpsertSemanticEdge(ctx, db.UpsertSemanticEdgeParams{
		Source: e.Source, Target: e.Target, Type: e.Type, Confidence: e.Confidence, Veracity: e.Veracity,
		ContextSource: nullString(e.ContextSource),
	})
	if err != nil {
		return fmt.Errorf("resonance: upsert edge %s: %w", edgeName(&e), classify(err))
	}
	h := historyRow{entity: entityEdge, id: string(appendEdgeEntityID(nil, e.Source, e.Target, e.Type)),
		action: actionUpsert, new: sql.NullString{String: string(edgeJSON(nil, &e, true)), Valid: true}}
	if err := t.insertHistory(ctx, []historyRow{h}); err != nil {
		return fmt.Errorf("resonance: upsert edge %s: history: %w", edgeName(&e), classify(err))
	}
	return nil
}

// prepareEdge applies the default type to e and validates it. semantic
// also checks confidence and veracity.
func prepareEdge(op string, e *Edge, semantic bool) error {
	if e.Type == "" {
		e.Type = defaultEdgeType
	}
	var problem string
	switch {
	case blank(e.Source):
		problem = "source is empty"
	case blank(e.Target):
		problem = "target is empty"
	case blank(e.Type):
		problem = "type is blank"
	case invalidText(e.Source, e.Target, e.Type, e.ContextSource) != "":
		problem = invalidText(e.Source, e.Target, e.Type, e.ContextSource)
	case semantic && !finite(e.Confidence):
		problem = fmt.Sprintf("confidence is %v", e.Confidence)
	case semantic && !finite(e.Veracity):
		problem = fmt.Sprintf("veracity is %v", e.Veracity)
	default:
		return nil
	}
	return fmt.Errorf("resonance: %s %s: %w: %s", op, edgeName(e), ErrInvalid, problem)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// invalidText says which of the texts is not valid UTF-8, or "" when all
// are. Such text would come back from a JSON export rewritten (each bad
// byte as U+FFFD), so that two ids could become one (D9).
func invalidText(texts ...string) string {
	for _, t := range texts {
		if !utf8.ValidString(t) {
			return fmt.Sprintf("%q is not valid UTF-8", t)
		}
	}
	return ""
}

// edgeName names an edge in an error: "a" -> "b" [related_to].
func edgeName(e *Edge) string {
	return fmt.Sprintf("%q -> %q [%s]", e.Source, e.Target, e.Type)
}

// OutgoingEdges returns the edges whose source is id, ordered by target and
// type; an empty, non-nil slice when there are none (also when no node has
// this id: edges do not require their nodes).
func (r *ReadTx) OutgoingEdges(ctx context.Context, id string) ([]Edge, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %q: %w", id, err)
	}
	defer done()
	rows, err := r.q.OutgoingEdges(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %q: %w", id, classify(err))
	}
	out := make([]Edge, len(rows))
	for i := range rows {
		row := &rows[i]
		out[i] = Edge{Source: id, Target: row.Target, Type: row.Type, Confidence: row.Confidence, Veracity: row.Veracity, ContextSource: row.ContextSource.String}
	}
	return out, nil
}

// OutgoingEdgesOf returns the outgoing edges of every node in ids, read in
// one statement: for callers that would call OutgoingEdges in a loop (a
// traversal's next frontier, the neighbours of a result list). The map has
// one entry per distinct id, its edges ordered by target and type as
// OutgoingEdges returns them; an empty, non-nil slice when it has none.
func (r *ReadTx) OutgoingEdgesOf(ctx context.Context, ids []string) (map[string][]Edge, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %d nodes: %w", len(ids), err)
	}
	defer done()
	out := make(map[string][]Edge, len(ids))
	// The ids go to SQLite as a JSON array; one that is not valid UTF-8
	// or holds a NUL would not survive JSON, so it is read on its own.
	arr := []byte{'['}
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		out[id] = []Edge{}
		if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
			rows, err := r.q.OutgoingEdges(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("resonance: outgoing edges of %q: %w", id, classify(err))
			}
			for i := range rows {
				row := &rows[i]
				out[id] = append(out[id], Edge{Source: id, Target: row.Target, Type: row.Type, Confidence: row.Confidence, Veracity: row.Veracity, ContextSource: row.ContextSource.String})
			}
			continue
		}
		if len(arr) > 1 {
			arr = append(arr, ',')
		}
		arr = appendJSONString(arr, id)
	}
	if len(arr) == 1 {
		return out, nil
	}
	rows, err := r.q.OutgoingEdgesOf(ctx, string(append(arr, ']')))
	if err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %d nodes: %w", len(ids), classify(err))
	}
	for i := range rows {
		row := &rows[i]
		out[row.Source] = append(out[row.Source], Edge{Source: row.Source, Target: row.Target, Type: row.Type, Confidence: row.Confidence, Veracity: row.Veracity, ContextSource: row.ContextSource.String})
	}
	return out, nil
}

// IncomingEdges returns the edges whose target is id, ordered by source and
// type; an empty, non-nil slice when there are none.
func (r *ReadTx) IncomingEdges(ctx context.Context, id string) ([]Edge, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: incoming edges of %q: %w", id, err)
	}
	defer done()
	rows, err := r.q.IncomingEdges(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resonance: incoming edges of %q: %w", id, classify(err))
	}
	out := make([]Edge, len(rows))
	for i := range rows {
		row := &rows[i]
		out[i] = Edge{Source: row.Source, Target: id, Type: row.Type, Confidence: row.Confidence, Veracity: row.Veracity, ContextSource: row.ContextSource.String}
	}
	return out, nil
}

// DeleteEdge deletes the edge source → target of type typ (empty:
// "related_to") and adds one history row ("edge", "source|target|type",
// "delete") whose old_value is the edge as JSON with all six fields (D11).
// When there is no such edge it returns an error wrapping ErrNotFound that
// names it, and writes nothing.
func (t *Tx) DeleteEdge(ctx context.Context, source, target, typ string) error {
	e := Edge{Source: source, Target: target, Type: typ}
	if e.Type == "" {
		e.Type = defaultEdgeType
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("resonance: delete edge %s: %w", edgeName(&e), err)
	}
	row, err := t.q.DeleteEdge(ctx, db.DeleteEdgeParams{Source: e.Source, Target: e.Target, Type: e.Type})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("resonance: delete edge %s: %w: no edge with this source, target and type", edgeName(&e), ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("resonance: delete edge %s: %w", edgeName(&e), classify(err))
	}
	e.Confidence, e.Veracity, e.ContextSource = row.Confidence, row.Veracity, row.ContextSource.String
	if err := t.insertHistory(ctx, []historyRow{deletedEdgeRow(&e)}); err != nil {
		return fmt.Errorf("resonance: delete edge %s: history: %w", edgeName(&e), classify(err))
	}
	return nil
}

// deletedEdgeRow is the history row of a deleted edge.
func deletedEdgeRow(e *Edge) historyRow {
	return historyRow{entity: entityEdge, id: string(appendEdgeEntityID(nil, e.Source, e.Target, e.Type)),
		action: actionDelete, old: sql.NullString{String: string(edgeJSON(nil, e, true)), Valid: true}}
}
