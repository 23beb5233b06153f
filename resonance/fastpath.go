package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/resonance-graph/resonancedb/db"
)

// The hot reads of a Store (GetNode, GetNodes, OutgoingEdges,
// IncomingEdges) run their one statement on a reader's driver connection,
// through sql.Conn.Raw, and build the result from the driver's values.
//
// Through database/sql each of them paid for a Rows (with a context
// watcher), a Scan with its conversions into sql.NullString, and a second
// copy of every text; here a row costs what the driver allocates for its
// values. The statement is the very text sqlc generated from queries/
// (generatedSQL), so a Store method and its Tx twin share one prepared
// statement in the driver's per-connection cache (_stmt_cache_size), and
// errors are those of the connector's connection: classified, so
// ErrBusy and ErrReadOnly still match.

// The statements of the raw reads, as sqlc generated them.
var (
	sqlGetNode   = generatedSQL(func(q *db.Queries) { _, _ = q.GetNodePacked(context.Background(), "") })
	sqlListNodes = generatedSQL(func(q *db.Queries) {
		_, _ = q.ListNodesPacked(context.Background(), db.ListNodesPackedParams{})
	})
	sqlListNodesWithoutEmbedding = generatedSQL(func(q *db.Queries) {
		_, _ = q.ListNodesWithoutEmbeddingPacked(context.Background(), db.ListNodesWithoutEmbeddingPackedParams{})
	})
	sqlCountNodes    = generatedSQL(func(q *db.Queries) { _, _ = q.CountNodes(context.Background()) })
	sqlOutgoingEdges = generatedSQL(func(q *db.Queries) { _, _ = q.OutgoingEdges(context.Background(), "") })
	sqlIncomingEdges = generatedSQL(func(q *db.Queries) { _, _ = q.IncomingEdges(context.Background(), "") })
)

// Column counts of those statements, checked against the driver on every
// query: the driver fills exactly len(dest) values.
const (
	getNodeCols                   = 2 // packed (without the id), embedding
	listNodesCols                 = 2 // packed, embedding
	listNodesWithoutEmbeddingCols = 1 // packed
	edgeCols                      = 5 // the other end, type, confidence, veracity, context_source
)

// errRecorded stops a generated query method once its SQL is recorded.
var errRecorded = errors.New("resonance: statement recorded, not run")

// generatedSQL returns the text of the statement that call runs through
// the generated queries, which it runs against a recorder, not a database.
func generatedSQL(call func(*db.Queries)) string {
	r := sqlRecorder{closed: closedPool}
	call(db.New(&r))
	if r.query == "" {
		panic("resonance: generatedSQL: the call ran no statement")
	}
	return r.query
}

type sqlRecorder struct {
	query  string
	closed *sql.DB // for QueryRowContext
}

func (r *sqlRecorder) ExecContext(_ context.Context, q string, _ ...any) (sql.Result, error) {
	r.query = q
	return nil, errRecorded
}

func (r *sqlRecorder) PrepareContext(_ context.Context, q string) (*sql.Stmt, error) {
	r.query = q
	return nil, errRecorded
}

func (r *sqlRecorder) QueryContext(_ context.Context, q string, _ ...any) (*sql.Rows, error) {
	r.query = q
	return nil, errRecorded
}

// QueryRowContext returns a Row whose Scan fails: one from a closed pool,
// the only way to make a *sql.Row that carries an error.
func (r *sqlRecorder) QueryRowContext(ctx context.Context, q string, _ ...any) *sql.Row {
	r.query = q
	return r.closed.QueryRowContext(ctx, q)
}

var closedPool = func() *sql.DB {
	p := sql.OpenDB(noConnector{})
	p.Close()
	return p
}()

// noConnector backs closedPool, which never connects.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, errRecorded }
func (noConnector) Driver() driver.Driver                        { return nil }

// rawRead runs fn with the driver connection of a reader, taken from the
// pool for the duration of fn. op names the operation in errors.
func (s *Store) rawRead(ctx context.Context, op, id string, fn func(driver.QueryerContext) error) error {
	if s.closed.Load() {
		return fmt.Errorf("resonance: %s %q: %w", op, s.path, ErrClosed)
	}
	conn, err := s.readers.Conn(ctx)
	if err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, id, classify(err))
	}
	err = conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("resonance: %s: driver connection %T cannot run queries", op, dc)
		}
		return fn(q)
	})
	if cerr := conn.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("resonance: %s %q: %w", op, id, classify(cerr))
	}
	return err
}

// query runs stmt with args and checks that it returns ncol columns.
func query(ctx context.Context, q driver.QueryerContext, stmt string, ncol int, args ...driver.NamedValue) (driver.Rows, error) {
	rows, err := q.QueryContext(ctx, stmt, args)
	if err != nil {
		return nil, classify(err)
	}
	if n := len(rows.Columns()); n != ncol {
		rows.Close()
		return nil, fmt.Errorf("statement returned %d columns, want %d", n, ncol)
	}
	return rows, nil
}

// arg is a positional argument of a raw query.
func arg(i int, v driver.Value) driver.NamedValue { return driver.NamedValue{Ordinal: i, Value: v} }

// getNodeRaw is Store.GetNode on a reader's driver connection.
func (s *Store) getNodeRaw(ctx context.Context, id string) (Node, error) {
	var n Node
	err := s.rawRead(ctx, "get node", id, func(q driver.QueryerContext) error {
		rows, err := query(ctx, q, sqlGetNode, getNodeCols, arg(1, id))
		if err != nil {
			return fmt.Errorf("resonance: get node %q: %w", id, err)
		}
		defer rows.Close()
		var v [getNodeCols]driver.Value
		switch err := rows.Next(v[:]); {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("resonance: get node %q: %w: no node with this id", id, ErrNotFound)
		case err != nil:
			return fmt.Errorf("resonance: get node %q: %w", id, classify(err))
		}
		n.ID = id
		if err := unpackNode(&n, text(v[0]), false); err != nil {
			return fmt.Errorf("resonance: get node %q: %w", id, err)
		}
		if n.Embedding, err = ownedEmbedding(v[1]); err != nil {
			return fmt.Errorf("resonance: get node: node %q: %w: stored embedding is corrupt: %w", id, ErrInvalid, err)
		}
		return nil
	})
	return n, err
}

// getNodesRaw is Store.GetNodes on a reader's driver connection; f is
// checked already.
func (s *Store) getNodesRaw(ctx context.Context, f NodeFilter) ([]Node, error) {
	stmt, ncol := sqlListNodes, listNodesCols
	if f.SkipEmbedding {
		stmt, ncol = sqlListNodesWithoutEmbedding, listNodesWithoutEmbeddingCols
	}
	domain, typ, limit := filterArgs(f)
	nodes := []Node{}
	err := s.rawRead(ctx, "get nodes", s.path, func(q driver.QueryerContext) error {
		// ?1 domain, ?2 type, ?3 offset, ?4 limit, as sqlc numbered them.
		rows, err := query(ctx, q, stmt, ncol, arg(1, domain), arg(2, typ), arg(3, int64(f.Offset)), arg(4, limit))
		if err != nil {
			return fmt.Errorf("resonance: get nodes: %w", err)
		}
		defer rows.Close()
		nodes = make([]Node, 0, scanCapacity(ctx, q, f))
		var v [listNodesCols]driver.Value
		for {
			if err := rows.Next(v[:ncol]); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("resonance: get nodes: %w", classify(err))
			}
			nodes = append(nodes, Node{})
			n := &nodes[len(nodes)-1]
			if err := unpackNode(n, text(v[0]), true); err != nil {
				return fmt.Errorf("resonance: get nodes: %w", err)
			}
			if !f.SkipEmbedding {
				if n.Embedding, err = ownedEmbedding(v[1]); err != nil {
					return fmt.Errorf("resonance: get nodes: node %q: %w: stored embedding is corrupt: %w", n.ID, ErrInvalid, err)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// scanCapacity is how many nodes a scan with filter f is expected to
// return, to size its result at once: growing a slice of 20,000 nodes by
// appending cost a sixth of a metadata scan (W3a), in copies and garbage.
// Without a domain or type filter it is the node count, which SQLite reads
// from the smallest index (a hundredth of the table's pages), less the
// offset, at most the limit. A filtered scan would have to read the table
// to count, so it gets the limit, up to 1,024.
func scanCapacity(ctx context.Context, q driver.QueryerContext, f NodeFilter) int {
	if f.Domain != "" || f.Type != "" {
		return min(f.Limit, 1024)
	}
	rows, err := q.QueryContext(ctx, sqlCountNodes, nil)
	if err != nil {
		return 0 // only a hint: the scan reports the error
	}
	defer rows.Close()
	var v [1]driver.Value
	if rows.Next(v[:]) != nil {
		return 0
	}
	n, _ := v[0].(int64)
	n = max(n-int64(f.Offset), 0)
	if f.Limit > 0 {
		n = min(n, int64(f.Limit))
	}
	return int(n)
}

// edgesRaw is Store.OutgoingEdges (outgoing) or Store.IncomingEdges on a
// reader's driver connection. The statement returns the other end of each
// edge; id is the end it was asked for.
func (s *Store) edgesRaw(ctx context.Context, id string, outgoing bool) ([]Edge, error) {
	op, stmt := "incoming edges of", sqlIncomingEdges
	if outgoing {
		op, stmt = "outgoing edges of", sqlOutgoingEdges
	}
	out := []Edge{}
	err := s.rawRead(ctx, op, id, func(q driver.QueryerContext) error {
		rows, err := query(ctx, q, stmt, edgeCols, arg(1, id))
		if err != nil {
			return fmt.Errorf("resonance: %s %q: %w", op, id, err)
		}
		defer rows.Close()
		var v [edgeCols]driver.Value
		for {
			if err := rows.Next(v[:]); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("resonance: %s %q: %w", op, id, classify(err))
			}
			e := Edge{Source: id, Target: id, Type: text(v[1]), ContextSource: text(v[4])}
			if outgoing {
				e.Target = text(v[0])
			} else {
				e.Source = text(v[0])
			}
			if e.Confidence, err = realValue(v[2]); err == nil {
				e.Veracity, err = realValue(v[3])
			}
			if err != nil {
				return fmt.Errorf("resonance: %s %q: edge %s: %w", op, id, edgeName(&e), err)
			}
			out = append(out, e)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// text converts a driver value to a string as database/sql's Scan into a
// *string (or the String of a NULL sql.NullString) would: NULL is "".
func text(v driver.Value) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v) // not a type the driver returns
}

// realValue converts a driver value to a float64 as database/sql's Scan would.
func realValue(v driver.Value) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	case string:
		return strconv.ParseFloat(v, 64)
	case []byte:
		return strconv.ParseFloat(string(v), 64)
	}
	return 0, fmt.Errorf("cannot read %s %v as a number", reflect.TypeOf(v), v)
}

// ownedEmbedding decodes the embedding column from a driver value whose
// bytes the caller owns (the driver copies every BLOB it returns), in
// place when it can (decodeOwnedEmbedding).
func ownedEmbedding(v driver.Value) ([]float32, error) {
	switch v := v.(type) {
	case []byte:
		return decodeOwnedEmbedding(v)
	case nil:
		return nil, nil
	case string:
		return DecodeEmbedding([]byte(v))
	}
	return nil, fmt.Errorf("embedding is a %T, not a blob", v)
}
