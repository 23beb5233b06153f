package resonance

import (
	"context"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// classifiedConn is a hardened connection as database/sql sees it. It wraps the
// driver's connection so that the errors of statements run through a raw
// pool (Connect, Store.DB, Store.ReadDB) wrap the package's sentinels as
// those of Store.Tx do: a write on a read-only connection is
// errors.Is(err, ErrReadOnly) (C8), a lock held past the busy timeout
// ErrBusy. The driver's error stays in the chain for errors.As. Every other
// method is the driver's own.
type classifiedConn struct{ *sqlite3.SQLiteConn }

var (
	_ driver.ExecerContext      = classifiedConn{}
	_ driver.QueryerContext     = classifiedConn{}
	_ driver.ConnPrepareContext = classifiedConn{}
	_ driver.ConnBeginTx        = classifiedConn{}
)

func (c classifiedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.SQLiteConn.ExecContext(ctx, query, args)
	return r, classify(err)
}

func (c classifiedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.SQLiteConn.QueryContext(ctx, query, args)
	if err != nil {
		return nil, classify(err)
	}
	return wrapRows(r), nil
}

func (c classifiedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.SQLiteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	if ss, ok := s.(*sqlite3.SQLiteStmt); ok {
		return classifiedStmt{ss}, nil
	}
	return s, nil
}

func (c classifiedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.SQLiteConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(err)
	}
	return classifiedTx{t}, nil
}

type classifiedStmt struct{ *sqlite3.SQLiteStmt }

func (s classifiedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.SQLiteStmt.ExecContext(ctx, args)
	return r, classify(err)
}

func (s classifiedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.SQLiteStmt.QueryContext(ctx, args)
	if err != nil {
		return nil, classify(err)
	}
	return wrapRows(r), nil
}

type classifiedRows struct{ *sqlite3.SQLiteRows }

func wrapRows(r driver.Rows) driver.Rows {
	if sr, ok := r.(*sqlite3.SQLiteRows); ok {
		return classifiedRows{sr}
	}
	return r
}

// Next classifies the error of a step that fails, such as a write with
// RETURNING on a read-only connection. io.EOF passes unchanged.
func (r classifiedRows) Next(dest []driver.Value) error { return classify(r.SQLiteRows.Next(dest)) }

type classifiedTx struct{ driver.Tx }

func (t classifiedTx) Commit() error   { return classify(t.Tx.Commit()) }
func (t classifiedTx) Rollback() error { return classify(t.Tx.Rollback()) }
