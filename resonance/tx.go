package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/resonance-graph/resonancedb/db"
)

// Tx is a transaction managed by Store.Tx or Store.Read. It satisfies the
// generated db.DBTX interface for raw SQL and hands out the generated
// queries bound to itself. It has no Commit or Rollback: the function
// passing through Tx or Read decides by returning nil or an error.
// A Tx must not be used after its function returns.
type Tx struct {
	tx       *sql.Tx
	store    *Store
	queries  *db.Queries
	readOnly bool
}

var _ db.DBTX = (*Tx)(nil)

// Queries returns the generated queries bound to this transaction.
func (t *Tx) Queries() *db.Queries {
	if t.queries == nil {
		t.queries = db.New(t)
	}
	return t.queries
}

// ExecContext runs a statement inside the transaction. Driver errors are
// translated: a write in a read transaction wraps ErrReadOnly, a lock
// timeout wraps ErrBusy.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := t.tx.ExecContext(ctx, query, args...)
	return r, classify(err)
}

// PrepareContext prepares a statement bound to the transaction.
func (t *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	s, err := t.tx.PrepareContext(ctx, query)
	return s, classify(err)
}

// QueryContext runs a query inside the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := t.tx.QueryContext(ctx, query, args...)
	return r, classify(err)
}

// QueryRowContext runs a query that returns at most one row. Its error is
// reported by Row.Scan, untranslated.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}

// ReadOnly reports whether the transaction runs on a query_only connection.
func (t *Tx) ReadOnly() bool { return t.readOnly }

// Tx runs fn in a write transaction that begins IMMEDIATE (W4), so it takes
// the write lock at once and waits up to the busy timeout for it instead of
// failing later on a lock upgrade. It commits when fn returns nil and rolls
// back when fn returns an error, panics (the panic continues after the
// rollback) or ctx is cancelled (T1).
//
// The returned error wraps fn's error; when the rollback itself failed, it
// is joined to it (errors.Is finds both). Calling Tx or Begin inside fn on
// the same store returns ErrNestedTx (T2). On a read-only store, writes in
// fn fail with ErrReadOnly. A transaction open longer than half the busy
// timeout is logged and counted (W8, Store.Metrics).
func (s *Store) Tx(ctx context.Context, fn func(*Tx) error) error {
	return s.run(ctx, s.writer, s.opts.ReadOnly, true, fn)
}

// Read runs fn in a read transaction on the pool of query_only connections
// (T3): fn sees one consistent snapshot, many Reads run at once beside the
// writer, and any write in fn fails with ErrReadOnly. Read commits when fn
// returns nil and rolls back otherwise, like Tx.
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	return s.run(ctx, s.readers, true, false, fn)
}

func (s *Store) run(ctx context.Context, pool *sql.DB, readOnly, writer bool, fn func(*Tx) error) (err error) {
	t, done, err := s.begin(ctx, pool, readOnly, writer, false)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = t.tx.Rollback()
			done()
			panic(p)
		}
	}()
	err = fn(t)
	if err == nil {
		if cerr := t.tx.Commit(); cerr != nil {
			err = s.endError("commit", ctx, cerr)
		}
	} else if rerr := t.tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		err = errors.Join(err, fmt.Errorf("resonance: rollback %q: %w", s.path, classify(rerr)))
	} else if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(err, ctx.Err())
	}
	done()
	return err
}

// begin starts a transaction on pool and returns it with a function that
// must be called once the transaction has ended. explicit marks an
// ExplicitTx, whose end may come from another goroutine.
func (s *Store) begin(ctx context.Context, pool *sql.DB, readOnly, writer, explicit bool) (*Tx, func(), error) {
	if s.closed.Load() {
		return nil, nil, fmt.Errorf("resonance: begin %q: %w", s.path, ErrClosed)
	}
	var gid int64
	if writer {
		gid = goid()
		if s.holder.Load() == gid && s.holdsExplicit(gid) {
			return nil, nil, fmt.Errorf("resonance: begin %q: %w: Tx or Begin called while this goroutine already holds the store's write transaction; pass the *Tx down instead", s.path, ErrNestedTx)
		}
	}
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, s.endError("begin", ctx, err)
	}
	if writer {
		s.holder.Store(gid)
		if explicit {
			s.holderNum.Store(stackGoid())
		}
	}
	start := time.Now()
	timer := time.AfterFunc(s.opts.BusyTimeout/2, func() {
		s.longTx.Add(1)
		s.opts.Logger.Warn("resonance: transaction open longer than half the busy timeout; other writers may time out",
			"db", s.path, "open_for", time.Since(start).Round(time.Millisecond), "busy_timeout", s.opts.BusyTimeout, "write", writer)
	})
	done := func() {
		timer.Stop()
		if writer {
			s.holderNum.Store(0)
			s.holder.Store(0)
		}
	}
	return &Tx{tx: tx, store: s, readOnly: readOnly}, done, nil
}

// holdsExplicit is called when the write transaction is held by a goroutine
// with identity gid, the caller's. That settles it for a Tx, which cannot
// outlive its goroutine. An ExplicitTx can: its goroutine may have handed it
// on and exited, and the runtime may have given its descriptor to the
// caller; the numeric goroutine id tells them apart.
func (s *Store) holdsExplicit(gid int64) bool {
	num := s.holderNum.Load()
	return num == 0 || num == stackGoid()
}

func (s *Store) endError(op string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("resonance: %s %q: %w (%w)", op, s.path, classify(err), cerr)
	}
	return fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(err))
}

// ExplicitTx is a write transaction whose end the caller controls, for code
// that cannot be written as a function passed to Store.Tx (T4). It follows
// the same rules: it begins IMMEDIATE, it is refused inside another write
// transaction of the same goroutine, and it is reported when open too long.
// Exactly one of Commit or Rollback must be called.
type ExplicitTx struct {
	*Tx
	ctx  context.Context
	done func()
}

// Begin starts an explicit write transaction (the seed's beginTransaction).
// Prefer Store.Tx, which cannot leak the writer.
func (s *Store) Begin(ctx context.Context) (*ExplicitTx, error) {
	t, done, err := s.begin(ctx, s.writer, s.opts.ReadOnly, true, true)
	if err != nil {
		return nil, err
	}
	return &ExplicitTx{Tx: t, ctx: ctx, done: done}, nil
}

// Commit commits the transaction and releases the writer.
func (e *ExplicitTx) Commit() error {
	defer e.release()
	if err := e.tx.Commit(); err != nil {
		return e.store.endError("commit", e.ctx, err)
	}
	return nil
}

// Rollback abandons the transaction and releases the writer. Rolling back a
// transaction that already ended returns nil.
func (e *ExplicitTx) Rollback() error {
	defer e.release()
	if err := e.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return e.store.endError("rollback", e.ctx, err)
	}
	return nil
}

func (e *ExplicitTx) release() {
	if e.done != nil {
		e.done()
		e.done = nil
	}
}

// stackGoid returns the calling goroutine's numeric id, read from the
// header of its stack trace. It costs microseconds (the runtime formats the
// whole stack): goid is the cheap identity used on every transaction.
func stackGoid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) <= len(prefix) {
		return -1
	}
	b = b[len(prefix):]
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	id, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil {
		return -1
	}
	return id
}
