package resonance

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"

	"github.com/resonance-graph/resonancedb/db"
)

// InsertEdge adds the edge source → target of type typ (empty: DefaultEdgeType)
// with confidence and veracity 1, unless an edge with that key exists
// already, in which case it is left as it is (D2, INSERT OR IGNORE). Either
// way it adds exactly one history row ("edge", "source|target|type") with
// action "insert", or "insert_ignored" when the edge existed, in the
// caller's transaction. The nodes need not exist.
//
// An empty source, target or type is refused with an error wrapping
// ErrInvalid that names the edge, before any SQL runs (D9). In a Read
// transaction it fails with ErrReadOnly.
func (t *Tx) InsertEdge(ctx context.Context, source, target, typ string) error {
	e := Edge{Source: source, Target: target, Type: typ}
	if err := prepareEdge("insert edge", &e, false); err != nil {
		return err
	}
	return t.insertEdge(ctx, &e)
}

// InsertEdge is Tx.InsertEdge in a write transaction of its own. Bad input
// is refused with ErrInvalid before the transaction begins.
func (s *Store) InsertEdge(ctx context.Context, source, target, typ string) error {
	e := Edge{Source: source, Target: target, Type: typ}
	if err := prepareEdge("insert edge", &e, false); err != nil {
		return err
	}
	return s.writeOne(ctx, func(t *Tx) error {
		return t.insertEdge(ctx, &e)
	})
}

// insertEdge writes the edge on the transaction's driver connection
// (rawtx.go) and queues its history row (historyqueue.go). The insert runs
// on the driver's exec path, the one that reports whether a row was
// inserted.
func (t *Tx) insertEdge(ctx context.Context, e *Edge) error {
	var stage string
	err := t.raw(ctx, func(rc rawConn) error {
		defer clear(t.args[:])
		a := t.args[:3]
		a[0] = arg(1, e.Source)
		a[1] = arg(2, e.Target)
		a[2] = arg(3, textValue(e.Type))
		n, err := rc.changes(sqlInsertEdge, a)
		if err != nil {
			return err
		}
		var action driver.Value = actionInsert
		if n == 0 {
			action = actionInsertIgnored
		}
		stage = "history: "
		h, entityID := t.edgeHistory(e, false)
		return t.hist.add(rc, entityEdge, entityID, action, nil, h)
	})
	if err != nil {
		return wrapWriteError("insert edge "+edgeName(e), stage, err)
	}
	return nil
}

// UpsertSemanticEdge inserts e, or updates the confidence, veracity and
// context source of the edge with e's (Source, Target, Type) key (D3), and
// adds one history row ("edge", "source|target|type", "upsert") holding the
// edge as JSON, in the caller's transaction.
//
// Zero values take the defaults: an empty Type is DefaultEdgeType, and a
// Confidence or Veracity of 0 is stored as 1, because Go cannot tell "not
// set" from 0 and an edge held with zero confidence carries no information
// (delete it instead). An empty ContextSource is stored as NULL.
//
// An empty source, target or type, or a NaN or ±Inf confidence or veracity,
// is refused with an error wrapping ErrInvalid that names the edge, before
// any SQL runs (D9). In a Read transaction it fails with ErrReadOnly.
func (t *Tx) UpsertSemanticEdge(ctx context.Context, e Edge) error {
	if err := prepareEdge("upsert edge", &e, true); err != nil {
		return err
	}
	return t.upsertSemanticEdge(ctx, &e)
}

// UpsertSemanticEdge is Tx.UpsertSemanticEdge in a write transaction of its
// own. Bad input is refused with ErrInvalid before the transaction begins.
func (s *Store) UpsertSemanticEdge(ctx context.Context, e Edge) error {
	if err := prepareEdge("upsert edge", &e, true); err != nil {
		return err
	}
	return s.writeOne(ctx, func(t *Tx) error {
		return t.upsertSemanticEdge(ctx, &e)
	})
}

func (t *Tx) upsertSemanticEdge(ctx context.Context, e *Edge) error {
	var stage string
	err := t.raw(ctx, func(rc rawConn) error {
		defer clear(t.args[:])
		a := t.args[:6]
		a[0] = arg(1, e.Source)
		a[1] = arg(2, e.Target)
		a[2] = arg(3, textValue(e.Type))
		a[3] = arg(4, e.Confidence)
		a[4] = arg(5, e.Veracity)
		a[5] = arg(6, nullable(e.ContextSource))
		if err := rc.run(sqlUpsertEdge, a); err != nil {
			return err
		}
		stage = "history: "
		h, entityID := t.edgeHistory(e, true)
		return t.hist.add(rc, entityEdge, entityID, actionUpsert, nil, h)
	})
	if err != nil {
		return wrapWriteError("upsert edge "+edgeName(e), stage, err)
	}
	return nil
}

// edgeHistory builds the new_value and the entity_id of an edge's history
// row in the text of the history queue. It runs inside Tx.raw.
func (t *Tx) edgeHistory(e *Edge, full bool) (newValue, entityID driver.Value) {
	newValue = t.hist.appendText(func(b []byte) []byte { return edgeJSON(b, e, full) })
	entityID = t.hist.appendText(func(b []byte) []byte { return appendEdgeEntityID(b, e.Source, e.Target, e.Type) })
	return newValue, entityID
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

// edgeName names an edge in an error: "a" -> "b" [related_to].
func edgeName(e *Edge) string {
	return fmt.Sprintf("%q -> %q [%s]", e.Source, e.Target, e.Type)
}

// OutgoingEdges returns the edges whose source is id, ordered by target and
// type; an empty, non-nil slice when there are none (also when no node has
// this id: edges do not require their nodes).
func (t *Tx) OutgoingEdges(ctx context.Context, id string) ([]Edge, error) {
	return outgoingEdges(ctx, t.Queries(), id)
}

// OutgoingEdges is Tx.OutgoingEdges on a read-only connection; the single
// SELECT is one consistent snapshot. It returns ErrClosed on a closed store.
// It reads on a reader's driver connection (fastpath.go).
func (s *Store) OutgoingEdges(ctx context.Context, id string) ([]Edge, error) {
	return s.edgesRaw(ctx, id, true)
}

func outgoingEdges(ctx context.Context, q *db.Queries, id string) ([]Edge, error) {
	rows, err := q.OutgoingEdges(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resonance: outgoing edges of %q: %w", id, classify(err))
	}
	out := make([]Edge, len(rows))
	for i := range rows {
		r := &rows[i]
		out[i] = Edge{Source: id, Target: r.Target, Type: r.Type, Confidence: r.Confidence, Veracity: r.Veracity, ContextSource: r.ContextSource.String}
	}
	return out, nil
}

// IncomingEdges returns the edges whose target is id, ordered by source and
// type; an empty, non-nil slice when there are none.
func (t *Tx) IncomingEdges(ctx context.Context, id string) ([]Edge, error) {
	return incomingEdges(ctx, t.Queries(), id)
}

// IncomingEdges is Tx.IncomingEdges on a read-only connection; the single
// SELECT is one consistent snapshot. It returns ErrClosed on a closed store.
// It reads on a reader's driver connection (fastpath.go).
func (s *Store) IncomingEdges(ctx context.Context, id string) ([]Edge, error) {
	return s.edgesRaw(ctx, id, false)
}

func incomingEdges(ctx context.Context, q *db.Queries, id string) ([]Edge, error) {
	rows, err := q.IncomingEdges(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resonance: incoming edges of %q: %w", id, classify(err))
	}
	out := make([]Edge, len(rows))
	for i := range rows {
		r := &rows[i]
		out[i] = Edge{Source: r.Source, Target: id, Type: r.Type, Confidence: r.Confidence, Veracity: r.Veracity, ContextSource: r.ContextSource.String}
	}
	return out, nil
}
