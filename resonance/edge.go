package resonance

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/resonance-graph/resonancedb/db"
)

// InsertEdge adds the edge source → target of type typ (empty: DefaultEdgeType)
// with confidence and veracity 1, unless an edge with that key exists
// already, in which case it is left as it is (D2, INSERT OR IGNORE). Either
// way it adds exactly one history row ("edge", "source|target|type") with
// action "insert", or "insert_ignored" when the edge existed. The nodes need
// not exist.
//
// An empty source, target or type is refused with an error wrapping
// ErrInvalid that names the edge, before any SQL runs (D9).
func (t *Tx) InsertEdge(ctx context.Context, source, target, typ string) error {
	e := Edge{Source: source, Target: target, Type: typ}
	if err := prepareEdge("insert edge", &e, false); err != nil {
		return err
	}
	return t.writeEdge(ctx, "insert edge", &e, func() (string, error) {
		n, err := t.q.InsertEdge(ctx, db.InsertEdgeParams{Source: e.Source, Target: e.Target, Type: e.Type})
		if n == 0 {
			return actionInsertIgnored, err
		}
		return actionInsert, err
	})
}

// InsertEdge is Tx.InsertEdge in a write transaction of its own.
func (s *Store) InsertEdge(ctx context.Context, source, target, typ string) error {
	return s.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.InsertEdge(ctx, source, target, typ) })
}

// UpsertSemanticEdge inserts e, or updates the confidence, veracity and
// context source of the edge with e's (Source, Target, Type) key (D3), and
// adds one history row ("edge", "source|target|type", "upsert") holding the
// edge as JSON.
//
// Zero values take the defaults: an empty Type is DefaultEdgeType, and a
// Confidence or Veracity of 0 is stored as 1, because Go cannot tell "not
// set" from 0 and an edge held with zero confidence carries no information
// (delete it instead). An empty ContextSource is stored as NULL.
//
// An empty source, target or type, or a NaN or ±Inf confidence or veracity,
// is refused with an error wrapping ErrInvalid that names the edge, before
// any SQL runs (D9).
func (t *Tx) UpsertSemanticEdge(ctx context.Context, e Edge) error {
	if err := prepareEdge("upsert edge", &e, true); err != nil {
		return err
	}
	return t.writeEdge(ctx, "upsert edge", &e, func() (string, error) {
		return actionUpsert, t.q.UpsertSemanticEdge(ctx, db.UpsertSemanticEdgeParams{
			Source: e.Source, Target: e.Target, Type: e.Type, Confidence: e.Confidence, Veracity: e.Veracity,
			ContextSource: nullString(e.ContextSource),
		})
	})
}

// UpsertSemanticEdge is Tx.UpsertSemanticEdge in a write transaction of its
// own.
func (s *Store) UpsertSemanticEdge(ctx context.Context, e Edge) error {
	return s.Tx(ctx, func(ctx context.Context, tx *Tx) error { return tx.UpsertSemanticEdge(ctx, e) })
}

// writeEdge runs write, which writes e and returns the action of its
// history row, and then the history row. The semantic upsert's row holds
// every field of the edge.
func (t *Tx) writeEdge(ctx context.Context, op string, e *Edge, write func() (string, error)) error {
	if err := t.enter(); err != nil {
		return fmt.Errorf("resonance: %s %s: %w", op, edgeName(e), err)
	}
	defer t.leave()
	action, err := write()
	if err != nil {
		return fmt.Errorf("resonance: %s %s: %w", op, edgeName(e), classify(err))
	}
	h := edgeJSON(nil, e, action == actionUpsert)
	id := appendEdgeEntityID(nil, e.Source, e.Target, e.Type)
	if err := insertHistory(ctx, t.q, entityEdge, string(id), action, sql.NullString{}, sql.NullString{String: string(h), Valid: true}); err != nil {
		return fmt.Errorf("resonance: %s %s: history: %w", op, edgeName(e), classify(err))
	}
	return nil
}

// prepareEdge applies the defaults to e and validates it. semantic also
// checks and defaults confidence and veracity.
func prepareEdge(op string, e *Edge, semantic bool) error {
	if e.Type == "" {
		e.Type = DefaultEdgeType
	}
	if semantic {
		if e.Confidence == 0 {
			e.Confidence = 1
		}
		if e.Veracity == 0 {
			e.Veracity = 1
		}
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
	if err := r.enter(); err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %q: %w", id, err)
	}
	defer r.leave()
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

// OutgoingEdges is ReadTx.OutgoingEdges on the reader pool, one consistent
// snapshot. It also returns ErrClosed.
func (s *Store) OutgoingEdges(ctx context.Context, id string) ([]Edge, error) {
	r, done, err := s.oneShot(ctx, "outgoing edges")
	if err != nil {
		return nil, err
	}
	defer done()
	return r.OutgoingEdges(ctx, id)
}

// OutgoingEdgesOf returns the outgoing edges of every node in ids, read in
// one statement: for callers that would call OutgoingEdges in a loop (a
// traversal's next frontier, the neighbours of a result list). The map has
// one entry per distinct id, its edges ordered by target and type as
// OutgoingEdges returns them; an empty, non-nil slice when it has none.
func (r *ReadTx) OutgoingEdgesOf(ctx context.Context, ids []string) (map[string][]Edge, error) {
	if err := r.enter(); err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %d nodes: %w", len(ids), err)
	}
	defer r.leave()
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

// OutgoingEdgesOf is ReadTx.OutgoingEdgesOf on the reader pool, one
// consistent snapshot. It also returns ErrClosed.
func (s *Store) OutgoingEdgesOf(ctx context.Context, ids []string) (map[string][]Edge, error) {
	r, done, err := s.oneShot(ctx, "outgoing edges")
	if err != nil {
		return nil, err
	}
	defer done()
	return r.OutgoingEdgesOf(ctx, ids)
}

// IncomingEdges returns the edges whose target is id, ordered by source and
// type; an empty, non-nil slice when there are none.
func (r *ReadTx) IncomingEdges(ctx context.Context, id string) ([]Edge, error) {
	if err := r.enter(); err != nil {
		return nil, fmt.Errorf("resonance: incoming edges of %q: %w", id, err)
	}
	defer r.leave()
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
