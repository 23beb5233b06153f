package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"unsafe"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/db"
)

// The graph writes of a Tx (UpsertNode, InsertEdge, UpsertSemanticEdge and
// their history rows) run on the transaction's driver connection, through
// sql.Conn.Raw on the connection the transaction was begun on: the same
// SQLite connection and transaction as every statement of the *sql.Tx,
// under database/sql's lock of that connection.
//
// Through database/sql each statement paid for the argument conversions
// (driver.DefaultParameterConverter, sql.NullString.Value), a context
// watcher, a Result, and the driver's exec path, which binds every argument
// with its own cgo call. Here a statement without a result runs on the
// driver's query path: reset, bind and step in one cgo call and a reset
// when it is put back in the connection's statement cache. The statements
// are the very texts sqlc generated from queries/ (generatedSQL), so they
// share the driver's cached prepared statements with the generated
// queries. Errors are classified like those of every other path, so
// ErrReadOnly and ErrBusy still match.

// The statements of the raw writes, as sqlc generated them.
var (
	sqlUpsertNode = generatedSQL(func(q *db.Queries) { _ = q.UpsertNode(context.Background(), db.UpsertNodeParams{}) })
	sqlInsertEdge = generatedSQL(func(q *db.Queries) { _, _ = q.InsertEdge(context.Background(), db.InsertEdgeParams{}) })
	sqlUpsertEdge = generatedSQL(func(q *db.Queries) {
		_ = q.UpsertSemanticEdge(context.Background(), db.UpsertSemanticEdgeParams{})
	})
	sqlInsertHistory = generatedSQL(func(q *db.Queries) { _ = q.InsertHistory(context.Background(), db.InsertHistoryParams{}) })
)

// rawConn is the driver connection of a transaction, handed to the
// function of Tx.raw for the duration of that call only.
type rawConn struct {
	c   *sqlite3.SQLiteConn
	ctx context.Context
}

// raw runs fn on the driver connection of the transaction.
//
// Once ctx is done, database/sql may already have rolled the transaction
// back (it does so from its own goroutine, under the connection's lock,
// and then closes the connection), and a statement run then would commit
// on its own. So ctx is checked under that lock too, and the error is
// ctx.Err(), as database/sql's own. A Tx used after its function returned
// gets sql.ErrTxDone. In a Read transaction it returns ErrReadOnly.
func (t *Tx) raw(ctx context.Context, fn func(rc rawConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.held.SQLiteConn != nil { // already locked: see single.go
		return t.onConn(ctx, t.held, fn)
	}
	if t.conn == nil {
		// A Read transaction runs on a query_only connection, which would
		// refuse the write as well.
		return fmt.Errorf("%w: a Read transaction cannot write", ErrReadOnly)
	}
	err := t.conn.Raw(func(dc any) error {
		c, ok := dc.(classifiedConn)
		if !ok {
			return fmt.Errorf("driver connection %T is not the connector's", dc)
		}
		return t.onConn(ctx, c, fn)
	})
	if errors.Is(err, sql.ErrConnDone) {
		// The transaction has ended and its connection is gone.
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return sql.ErrTxDone
	}
	return err
}

// onConn runs fn on c, the transaction's driver connection, under its
// lock, unless ctx is done or a failed history write leaves the
// transaction nothing to do but roll back.
func (t *Tx) onConn(ctx context.Context, c classifiedConn, fn func(rc rawConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.hist.err != nil {
		return t.hist.err
	}
	return fn(rawConn{c: c.SQLiteConn, ctx: ctx})
}

// run runs a statement that returns no rows.
func (rc rawConn) run(query string, args []driver.NamedValue) error {
	rows, err := rc.c.QueryContext(rc.ctx, query, args)
	if err != nil {
		return classify(err)
	}
	return classify(rows.Close())
}

// changes runs a statement that returns no rows and returns the number
// of rows it changed. The driver's exec path reports it; its query path
// does not.
func (rc rawConn) changes(query string, args []driver.NamedValue) (int64, error) {
	r, err := rc.c.ExecContext(rc.ctx, query, args)
	if err != nil {
		return 0, classify(err)
	}
	return r.RowsAffected()
}

// nullable is s as a statement argument: NULL when it is empty, as the
// graph API stores empty optional strings.
func nullable(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

// Statement arguments for the defaults, boxed once: converting a string
// variable to an interface allocates.
var (
	defaultDomainValue   driver.Value = DefaultDomain
	defaultLayerValue    driver.Value = DefaultLayer
	defaultEdgeTypeValue driver.Value = DefaultEdgeType
)

// textValue is s as a statement argument, without allocating for the
// defaults.
func textValue(s string) driver.Value {
	switch s {
	case DefaultDomain:
		return defaultDomainValue
	case DefaultLayer:
		return defaultLayerValue
	case DefaultEdgeType:
		return defaultEdgeTypeValue
	}
	return s
}

// bytesText returns b as a string without copying, for a statement
// argument that the driver copies before the call returns. b must not
// change during the call.
func bytesText(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
