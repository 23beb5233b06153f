package resonance

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// classifiedConn is a hardened connection as database/sql sees it. It wraps the
// driver's connection so that the errors of statements run through a raw
// pool (Connect, Store.DB, Store.ReadDB) wrap the package's sentinels as
// those of Store.Tx do: a write on a read-only connection is
// errors.Is(err, ErrReadOnly) (C8), a lock held past the busy timeout
// ErrBusy. The driver's error stays in the chain for errors.As.
//
// It also keeps the settings for the connection's whole life (C7): a
// connection on which a PRAGMA statement ran has its settings checked
// again before database/sql hands it out again (ResetSession), and one
// left inside a transaction is never handed out again. Every other method
// is the driver's own.
type classifiedConn struct {
	*sqlite3.SQLiteConn
	c *connector
	// pragmaRan is set when a statement whose text holds the word PRAGMA
	// ran: only such a statement can change a setting.
	pragmaRan bool
	// inTx is set while the connection holds a database/sql transaction
	// (Store.Tx, Store.Read, Store.Begin, BeginTx on a pool): its commit
	// hook then refuses every commit but the one of the transaction's
	// Commit. When SQLite has rolled the transaction back by itself (an
	// interrupted statement, RAISE(ROLLBACK), a full disk) or a statement
	// ran COMMIT or ROLLBACK, a later write would otherwise commit on its
	// own, though the function goes on to fail (T1). database/sql calls
	// the connection from one goroutine at a time, and the hook runs on
	// the goroutine of the statement.
	inTx bool
}

// commitHook is the connection's SQLite commit hook: non-zero turns the
// commit into a rollback, and the statement fails with
// SQLITE_CONSTRAINT_COMMITHOOK.
func (c *classifiedConn) commitHook() int {
	if c.inTx {
		return 1
	}
	return 0
}

var (
	_ driver.ExecerContext      = (*classifiedConn)(nil)
	_ driver.QueryerContext     = (*classifiedConn)(nil)
	_ driver.ConnPrepareContext = (*classifiedConn)(nil)
	_ driver.ConnBeginTx        = (*classifiedConn)(nil)
	_ driver.SessionResetter    = (*classifiedConn)(nil)
)

func (c *classifiedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.pragmaRan = c.pragmaRan || hasPragma(query)
	r, err := c.SQLiteConn.ExecContext(ctx, query, args)
	return r, classify(err)
}

func (c *classifiedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.pragmaRan = c.pragmaRan || hasPragma(query)
	r, err := c.SQLiteConn.QueryContext(ctx, query, args)
	if err != nil {
		return nil, classify(err)
	}
	return wrapRows(r), nil
}

func (c *classifiedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.SQLiteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	if ss, ok := s.(*sqlite3.SQLiteStmt); ok {
		return &classifiedStmt{SQLiteStmt: ss, conn: c, pragma: hasPragma(query)}, nil
	}
	return s, nil
}

func (c *classifiedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.SQLiteConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(err)
	}
	c.inTx = true
	return classifiedTx{Tx: t, c: c}, nil
}

// ResetSession runs before database/sql hands the connection out again. A
// connection still inside a transaction (a BEGIN run on a pool) is thrown
// away, which rolls the transaction back. After a PRAGMA statement every
// setting is checked again as the connect hook checked it: one that changed
// throws the connection away (C7; those whose check statement sets them,
// busy_timeout among them, are set again by it).
func (c *classifiedConn) ResetSession(ctx context.Context) error {
	if !c.AutoCommit() {
		return driver.ErrBadConn
	}
	if !c.pragmaRan {
		return nil
	}
	mode, err := queryString(c.SQLiteConn, "PRAGMA journal_mode", c.c.trace)
	if err != nil || !strings.EqualFold(mode, "wal") {
		return driver.ErrBadConn
	}
	for i := range c.c.pragmas {
		if err := c.c.verify(c.SQLiteConn, i); err != nil {
			return driver.ErrBadConn
		}
	}
	if checkDefaults(c.SQLiteConn, c.c.opts.ReadOnly, "a PRAGMA changed it") != nil {
		return driver.ErrBadConn
	}
	c.pragmaRan = false
	return nil
}

// hasPragma reports whether query holds the word PRAGMA, in any case. It
// runs before every statement, so it finds each P with strings.IndexByte:
// on the generated UpsertNode and OutgoingEdges, 65 ns a statement
// against 340 ns for a loop over every byte.
func hasPragma(query string) bool {
	const word = "pragma"
	for _, p := range [2]byte{'p', 'P'} {
		for q := query; ; {
			i := strings.IndexByte(q, p)
			if i < 0 {
				break
			}
			if len(q)-i >= len(word) && strings.EqualFold(q[i:i+len(word)], word) {
				return true
			}
			q = q[i+1:]
		}
	}
	return false
}

type classifiedStmt struct {
	*sqlite3.SQLiteStmt
	conn   *classifiedConn
	pragma bool // its text holds PRAGMA
}

func (s *classifiedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.conn.pragmaRan = s.conn.pragmaRan || s.pragma
	r, err := s.SQLiteStmt.ExecContext(ctx, args)
	return r, classify(err)
}

func (s *classifiedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.conn.pragmaRan = s.conn.pragmaRan || s.pragma
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
func (r classifiedRows) Next(dest []driver.Value) error {
	err := r.SQLiteRows.Next(dest)
	if err == nil || err == io.EOF {
		return err
	}
	return classify(err)
}

// errTxEnded is the error of Commit and Rollback when SQLite had ended
// the transaction already: nothing of it was committed.
var errTxEnded = errors.New("the transaction had already ended")

// classifiedTx is a database/sql transaction on a classifiedConn. Its end
// checks that SQLite is still inside the transaction: when SQLite rolled
// it back by itself, Commit must not report success.
type classifiedTx struct {
	driver.Tx
	c *classifiedConn
}

func (t classifiedTx) Commit() error {
	t.c.inTx = false
	if t.c.AutoCommit() {
		return errTxEnded
	}
	return classify(t.Tx.Commit())
}

func (t classifiedTx) Rollback() error {
	t.c.inTx = false
	if t.c.AutoCommit() {
		return errTxEnded
	}
	return classify(t.Tx.Rollback())
}
