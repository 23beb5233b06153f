package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/resonance-graph/resonancedb/db"
	"github.com/resonance-graph/resonancedb/internal/packed"
)

// ReadTx is a read transaction: one consistent snapshot on a query_only
// connection, given to the function of Store.Read. It has the graph API's
// reads and the methods of sqlc's DBTX interface, so that generated
// queries (db.New(r), or an application's own) and SQL of your own run
// on the same snapshot. Store.Reads returns the one outside a transaction.
//
// A ReadTx belongs to the goroutine that runs its function: it is not safe
// for concurrent use. It is dead once its function returns: every later
// call fails with sql.ErrTxDone (T5).
type ReadTx struct {
	store *Store
	conn  db.DBTX     // the transaction's *sql.Tx; for Store.Reads, the reader pool
	state *txState    // nil for the reader pool, which has no end
	q     *db.Queries // bound to conn, for the graph API
	pq    *packed.Queries
}

// Tx is a write transaction, given to the function of Store.Tx: everything
// a ReadTx has, plus the graph API's writes. Each write adds its history
// row in the same transaction.
//
// A Tx belongs to the goroutine that runs its function, as a database/sql
// Tx does: it is not safe for concurrent use. It is dead once its function
// returns (or, for an ExplicitTx, once it has committed or rolled back):
// every later call fails with sql.ErrTxDone and writes nothing (T5).
type Tx struct {
	ReadTx
}

var (
	_ db.DBTX = (*ReadTx)(nil)
	_ db.DBTX = (*Tx)(nil)
)

// txState is what a transaction's handle and its context share: whether
// the transaction has ended. The context may reach goroutines fn starts,
// whose Store calls read done to recognise nesting (T2).
type txState struct {
	store  *Store
	write  bool
	parent *txState // the transaction whose context this one's was made with
	done   atomic.Bool
}

// txKey is the context key under which a transaction's context carries its
// txState: a Store write made with that context, or one derived from it,
// is inside the transaction (T2).
type txKey struct{}

// init makes r the handle of a transaction (st not nil) or of the Store's
// Reads.
func (r *ReadTx) init(s *Store, conn db.DBTX, st *txState) {
	*r = ReadTx{store: s, conn: conn, state: st, q: db.New(conn), pq: packed.New(conn)}
}

// check fails with sql.ErrTxDone once the transaction has ended, whatever
// ctx says (T5), with ErrClosed once the store is closed, when the Store's
// path no longer leads to its file (the Store's Reads check that here; a
// transaction checked it when it began), and with ctx's error when ctx is
// done.
func (r *ReadTx) check(ctx context.Context) error {
	s := r.store
	switch {
	case r.state != nil && r.state.done.Load():
		return sql.ErrTxDone
	case s.closed.Load():
		return ErrClosed
	case r.state == nil:
		if err := s.file.verifyDue(s.path); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// enter starts a graph read on r: it checks r, and returns the handle to
// read on and the function that ends the read. That handle is r, except
// for the Store's Reads made with the context of an open transaction of
// this store: that transaction's Reads may hold every reader, so the read
// takes its reader the way Read does, waiting at most the busy timeout
// (ErrBusy), instead of waiting for a reader its own caller holds.
func (r *ReadTx) enter(ctx context.Context) (*ReadTx, func(), error) {
	if err := r.check(ctx); err != nil {
		return nil, nil, err
	}
	if r.state != nil || !r.store.inTransaction(ctx) {
		return r, noEnd, nil
	}
	conn, err := r.store.take(ctx, r.store.readers)
	if err != nil {
		return nil, nil, err
	}
	h := &ReadTx{}
	h.init(r.store, conn, nil)
	return h, func() { conn.Close() }, nil
}

// noEnd ends a read that holds nothing.
func noEnd() {}

// ExecContext runs a statement inside the transaction. Errors wrap the
// package's sentinels: a write in a read transaction ErrReadOnly, a lock
// held past the busy timeout ErrBusy.
func (r *ReadTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return r.conn.ExecContext(ctx, query, args...)
}

// PrepareContext prepares a statement bound to the transaction; the end
// of the transaction closes it, and the Rows of its queries.
func (r *ReadTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return r.conn.PrepareContext(ctx, query)
}

// QueryContext runs a query inside the transaction. Rows still open when
// the transaction ends are closed by it.
func (r *ReadTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return r.conn.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row; its error,
// sql.ErrTxDone after the transaction ended, comes from Row.Scan.
func (r *ReadTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if r.state != nil && r.state.done.Load() {
		// The ended *sql.Tx answers sql.ErrTxDone, but a done ctx first.
		ctx = context.Background()
	}
	return r.conn.QueryRowContext(ctx, query, args...)
}

// Tx runs fn in a write transaction that begins IMMEDIATE (W4), so it takes
// the write lock at once and waits up to the busy timeout for it instead of
// failing later on a lock upgrade. It commits when fn returns nil and rolls
// back when fn returns an error, panics (the panic continues after the
// rollback) or ctx is done by the time fn returns (T1); once ctx is done,
// the graph operations in fn fail with its error. The error returned
// wraps fn's error; when the rollback itself failed, it is joined to it.
//
// fn gets the transaction's context, derived from ctx: pass it on. A Store
// write made with it (or a context derived from it) returns ErrNestedTx at
// once (T2); one made with another context waits at most the busy timeout,
// then returns ErrBusy. On a read-only store, writes fail with ErrReadOnly.
// A transaction open longer than half the busy timeout is logged and
// counted (W8).
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	t, err := s.begin(ctx, true)
	if err != nil {
		return err
	}
	return t.run(ctx, func(ctx context.Context) error { return fn(ctx, t.tx) })
}

// Read runs fn in a read transaction on the pool of query_only connections
// (T3): fn sees one consistent snapshot, and many Reads run at once beside
// the writer. A write through the ReadTx's SQL methods fails with
// ErrReadOnly. Read commits when fn returns nil and rolls back otherwise.
// A Read may run inside a Tx and a Tx inside a Read. Give the reads of
// Store.Reads in fn fn's ctx: then they wait for a reader at most the busy
// timeout.
func (s *Store) Read(ctx context.Context, fn func(ctx context.Context, r *ReadTx) error) error {
	t, err := s.begin(ctx, false)
	if err != nil {
		return err
	}
	return t.run(ctx, func(ctx context.Context) error { return fn(ctx, &t.tx.ReadTx) })
}

// notNested refuses a write made with the context of an open write
// transaction of this store (T2).
func (s *Store) notNested(ctx context.Context, op string) error {
	for st, _ := ctx.Value(txKey{}).(*txState); st != nil; st = st.parent {
		if st.store != s || !st.write || st.done.Load() {
			continue
		}
		return fmt.Errorf("resonance: %s %q: %w: called with the context of an open Store.Tx, which holds the store's writer; write through its *Tx instead", op, s.path, ErrNestedTx)
	}
	return nil
}

// inTransaction reports whether ctx is the context of an open transaction
// of this store, or derived from one.
func (s *Store) inTransaction(ctx context.Context) bool {
	for st, _ := ctx.Value(txKey{}).(*txState); st != nil; st = st.parent {
		if st.store == s && !st.done.Load() {
			return true
		}
	}
	return false
}

// writerConn takes the store's writer connection for op, outside any
// transaction. Close returns it.
func (s *Store) writerConn(ctx context.Context, op string) (*sql.Conn, error) {
	if err := s.notNested(ctx, op); err != nil {
		return nil, err
	}
	return s.acquire(ctx, s.writer, op)
}

// acquire takes a connection from pool for op, as take does.
func (s *Store) acquire(ctx context.Context, pool *sql.DB, op string) (*sql.Conn, error) {
	conn, err := s.take(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("resonance: %s %q: %w", op, s.path, err)
	}
	return conn, nil
}

// take takes a connection from pool, waiting for one at most the busy
// timeout: past it, ErrBusy, as SQLite answers a lock held that long. It
// fails with ErrClosed once the store is closed, and when the store's path
// no longer leads to its file.
func (s *Store) take(ctx context.Context, pool *sql.DB) (*sql.Conn, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.file.verifyDue(s.path); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.BusyTimeout)
	defer cancel()
	conn, err := pool.Conn(wctx)
	switch {
	case err == nil:
		return conn, nil
	case s.closed.Load():
		return nil, ErrClosed
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		what := "the store's writer stayed in use by another transaction of this process"
		fix := "if this runs inside Store.Tx, write through its *Tx and pass its ctx"
		if pool == s.readers {
			what = fmt.Sprintf("all %d reader connections stayed in use", s.opts.MaxReaders)
			fix = "a Read waiting inside another Read holds one of them: pass the ReadTx down, or raise Options.MaxReaders"
		}
		return nil, fmt.Errorf("%w: %s for the busy timeout (%v); %s", ErrBusy, what, s.opts.BusyTimeout, fix)
	}
	return nil, s.endCause(ctx, err)
}

// liveTx is a transaction begun on a connection of the store's, with what
// its end needs. It is a database/sql Tx: its end closes the Rows and
// statements fn left open, and a call after the end fails with
// sql.ErrTxDone.
type liveTx struct {
	tx    *Tx
	sqlTx *sql.Tx
	conn  *sql.Conn
	ctx   context.Context // the caller's, marked with the transaction (txKey)
	began time.Time
	watch *time.Timer   // reports the transaction once it is open past half the busy timeout (W8)
	told  chan struct{} // closed when watch's report is written
}

// begin begins a transaction: on the writer for a write (T2: not with the
// context of an open write transaction), on a reader otherwise. BeginTx
// runs the BEGIN of the connection's DSN: IMMEDIATE on the writer (W4),
// deferred on a reader and on the writer of a read-only store (whose
// query_only connection cannot take the write lock; its writes fail with
// ErrReadOnly, its reads work).
func (s *Store) begin(ctx context.Context, write bool) (*liveTx, error) {
	op, pool := "read", s.readers
	if write {
		if err := s.notNested(ctx, "begin"); err != nil {
			return nil, err
		}
		op, pool = "begin", s.writer
	}
	conn, err := s.acquire(ctx, pool, op)
	if err != nil {
		return nil, err
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, s.endError(op, ctx, err)
	}
	st := &txState{store: s, write: write}
	st.parent, _ = ctx.Value(txKey{}).(*txState)
	t := &liveTx{tx: &Tx{}, sqlTx: sqlTx, conn: conn, ctx: context.WithValue(ctx, txKey{}, st), began: time.Now()}
	t.tx.init(s, sqlTx, st)
	t.told = make(chan struct{})
	t.watch = time.AfterFunc(s.opts.BusyTimeout/2, func() {
		defer close(t.told)
		s.reportLong(time.Since(t.began), write)
	})
	return t, nil
}

// run runs fn with the transaction's context and ends the transaction: a
// commit when fn returns nil and ctx is not done, a rollback otherwise,
// and on a panic, which continues.
func (t *liveTx) run(ctx context.Context, fn func(context.Context) error) error {
	defer func() {
		if p := recover(); p != nil {
			_ = t.end(ctx, false)
			panic(p)
		}
	}()
	if err := fn(t.ctx); err != nil {
		rerr := t.end(ctx, false)
		if cerr := ctx.Err(); rerr == nil && cerr != nil && !errors.Is(err, cerr) {
			rerr = cerr
		}
		return errors.Join(err, rerr)
	}
	return t.end(ctx, true)
}

// end commits the transaction, or rolls it back when commit is false or
// ctx is done (T1: never commit once ctx is done), then releases its
// connection. It returns the failure of the commit or of the rollback, or
// sql.ErrTxDone when the transaction had ended already. From the moment it
// begins, every call on the transaction's handle fails with sql.ErrTxDone.
func (t *liveTx) end(ctx context.Context, commit bool) error {
	s, st := t.tx.store, t.tx.state
	if st.done.Swap(true) {
		return sql.ErrTxDone
	}
	if !t.watch.Stop() {
		// The report has begun: it is written before the transaction ends,
		// so nothing it logs comes after the caller's call returned.
		<-t.told
	}
	defer t.conn.Close()
	var err error
	switch {
	case commit && ctx.Err() != nil:
		commit = false
		err = fmt.Errorf("resonance: commit %q: %w", s.path, ctx.Err())
	case commit && s.closed.Load():
		// O4: a transaction still open when Close ran commits nothing.
		commit = false
		err = fmt.Errorf("resonance: commit %q: %w", s.path, ErrClosed)
	}
	op, eerr := "rollback", error(nil)
	if commit {
		op, eerr = "commit", t.sqlTx.Commit()
		if eerr == nil && st.write && s.ckpt != nil {
			s.ckpt.committed()
		}
	} else if eerr = t.sqlTx.Rollback(); errors.Is(eerr, sql.ErrTxDone) {
		eerr = nil // database/sql rolled back when ctx was done
	}
	switch {
	case errors.Is(eerr, errTxEnded):
		err = errors.Join(err, fmt.Errorf("resonance: %s %q: the transaction had already ended, and nothing of it was committed: "+
			"SQLite rolls a transaction back after an interrupted statement, RAISE(ROLLBACK) or a full disk, and ROLLBACK run "+
			"through ExecContext ends it; return the error of the statement that failed from fn", op, s.path))
	case eerr != nil && op == "commit":
		err = errors.Join(err, s.endError(op, ctx, eerr))
	case eerr != nil:
		err = errors.Join(err, fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(eerr)))
	}
	return err
}

// reportLong counts and logs a transaction open for longer than half the
// busy timeout (W8), saying what it holds up: a write transaction holds
// the write lock; a read transaction holds its snapshot, which no writer
// waits for, but which keeps checkpoints from copying the WAL past it and
// from resetting it.
func (s *Store) reportLong(open time.Duration, write bool) {
	s.longTx.Add(1)
	msg := "resonance: write transaction open longer than half the busy timeout; other writers may time out"
	if !write {
		msg = "resonance: read transaction open longer than half the busy timeout; checkpoints cannot copy the WAL past its snapshot or reset it until it ends, so -wal grows"
	}
	s.opts.Logger.Warn(msg, "db", s.path, "open_for", open.Round(time.Millisecond), "busy_timeout", s.opts.BusyTimeout, "write", write)
}

// endError is the error of op, ended by err.
func (s *Store) endError(op string, ctx context.Context, err error) error {
	return fmt.Errorf("resonance: %s %q: %w", op, s.path, s.endCause(ctx, err))
}

// endCause is err, classified, with what else ended the call: Close, or
// ctx.
func (s *Store) endCause(ctx context.Context, err error) error {
	if s.closed.Load() && !errors.Is(err, ErrClosed) {
		// Close ran while this call waited (O4).
		return fmt.Errorf("%w: %w", ErrClosed, classify(err))
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", classify(err), cerr)
	}
	return classify(err)
}

// ExplicitTx is a write transaction whose end the caller controls, for code
// that cannot be written as a function passed to Store.Tx (T4). It follows
// the same rules: it begins IMMEDIATE, it is reported when open too long,
// and it is dead once it has ended. Exactly one of Commit or Rollback must
// be called; until then it holds the store's writer.
type ExplicitTx struct {
	*Tx
	t   *liveTx
	ctx context.Context // the caller's
}

// Begin starts an explicit write transaction (the seed's beginTransaction).
// Prefer Store.Tx, which cannot leak the writer. Store writes made with
// the transaction's Context while it is open return ErrNestedTx.
func (s *Store) Begin(ctx context.Context) (*ExplicitTx, error) {
	t, err := s.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	return &ExplicitTx{Tx: t.tx, t: t, ctx: ctx}, nil
}

// Context returns the transaction's context, derived from the one given to
// Begin: pass it to the calls made inside the transaction.
func (e *ExplicitTx) Context() context.Context { return e.t.ctx }

// Commit commits the transaction and releases the writer. It never commits
// once the context given to Begin is done: it rolls back instead and
// returns the context's error. After the end it returns sql.ErrTxDone.
func (e *ExplicitTx) Commit() error { return e.t.end(e.ctx, true) }

// Rollback abandons the transaction and releases the writer. Rolling back a
// transaction that already ended returns nil.
func (e *ExplicitTx) Rollback() error {
	if err := e.t.end(e.ctx, false); !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}
