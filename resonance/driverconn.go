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
// It also keeps the settings for the connection's whole life (C7): its
// authorizer, which SQLite calls as it compiles each statement, notes a
// PRAGMA given a value, which may change a setting; database/sql then
// discards the connection instead of handing it out again (ResetSession),
// as it does one left inside a transaction. Every other
// method is the driver's own.
type classifiedConn struct {
	*sqlite3.SQLiteConn
	c *connector
	// settingSet is set when a PRAGMA given a value, other than the
	// pragmaActions, was compiled on the connection. It stays set: a
	// compiled statement may run again from go-sqlite3's statement cache.
	settingSet bool
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

// pragmaActions are the PRAGMAs that, given a value, act on the database
// or read it, and change no setting of the connection (auto_vacuum is the
// database's, which the VACUUM after it writes, as Store.IncrementalVacuum's
// error says).
var pragmaActions = map[string]bool{"auto_vacuum": true, "optimize": true, "wal_checkpoint": true, "incremental_vacuum": true,
	"integrity_check": true, "quick_check": true, "foreign_key_check": true, "foreign_key_list": true,
	"table_info": true, "table_xinfo": true, "index_info": true, "index_xinfo": true, "index_list": true}

// authorize is the connection's SQLite authorizer: it allows everything,
// and notes a PRAGMA given a value that is not one of the pragmaActions.
func (c *classifiedConn) authorize(op int, name, value, _ string) int {
	if op == sqlite3.SQLITE_PRAGMA && value != "" && !pragmaActions[strings.ToLower(name)] {
		c.settingSet = true
	}
	return sqlite3.SQLITE_OK
}

func (c *classifiedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.SQLiteConn.ExecContext(ctx, query, args)
	return r, classify(err)
}

func (c *classifiedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
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
		return &classifiedStmt{SQLiteStmt: ss}, nil
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
// connection still inside a transaction (a BEGIN run on a pool), or on
// which a PRAGMA set a checked setting, is thrown away (C7): closing it
// rolls the transaction back, and the pool opens a hardened one instead.
func (c *classifiedConn) ResetSession(context.Context) error {
	if !c.AutoCommit() || c.settingSet {
		return driver.ErrBadConn
	}
	return nil
}

type classifiedStmt struct{ *sqlite3.SQLiteStmt }

func (s *classifiedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.SQLiteStmt.ExecContext(ctx, args)
	return r, classify(err)
}

func (s *classifiedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
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
