package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/resonance-graph/resonancedb/db"
)

// Tx is a transaction managed by Store.Tx or Store.Read. It satisfies the
// generated db.DBTX interface for raw SQL and hands out the generated
// queries bound to itself. It has no Commit or Rollback: the function
// passing through Tx or Read decides by returning nil or an error.
// A Tx must not be used after its function returns.
//
// The history rows of UpsertNode, InsertEdge and UpsertSemanticEdge are
// written in batches (historyqueue.go), always before any statement run
// through the Tx and before the commit, so every reader sees one row per
// write, in write order; their timestamp is that of their batch.
type Tx struct {
	tx       *sql.Tx
	conn     *sql.Conn      // of a write transaction: the connection tx was begun on; the graph writes run on its driver connection (rawtx.go)
	held     classifiedConn // instead of tx and conn: the driver connection of a Store one-write method, already locked (single.go)
	store    *Store
	queries  *db.Queries
	readOnly bool
	writer   bool     // holds the store's writer (Store.holder)
	watch    *txWatch // nil once the transaction has ended

	// Scratch space of the graph writes, reused from one call to the next
	// (the driver copies arguments before a statement returns), and their
	// queued history rows (historyqueue.go). They are used only inside
	// Tx.raw, under the connection's lock, so a Tx shared by goroutines
	// stays safe.
	args [10]driver.NamedValue
	hist historyQueue
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
//
// Like every statement run through the Tx, it first writes the history
// rows the graph writes have queued (historyqueue.go), so it sees them.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.writeHistory(ctx); err != nil {
		return nil, err
	}
	r, err := t.tx.ExecContext(ctx, query, args...)
	return r, classify(err)
}

// PrepareContext prepares a statement bound to the transaction. The graph
// writes of the transaction then write their history rows at once, so
// that the statement sees them whenever it runs.
func (t *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if !t.readOnly {
		err := t.raw(ctx, func(rc rawConn) error {
			t.hist.direct = true
			return t.hist.write(rc)
		})
		if err != nil {
			return nil, err
		}
	}
	s, err := t.tx.PrepareContext(ctx, query)
	return s, classify(err)
}

// QueryContext runs a query inside the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.writeHistory(ctx); err != nil {
		return nil, err
	}
	r, err := t.tx.QueryContext(ctx, query, args...)
	return r, classify(err)
}

// QueryRowContext runs a query that returns at most one row. Its error is
// reported by Row.Scan, untranslated. (A Row cannot carry the failure to
// write queued history rows; the transaction then refuses its commit.)
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	_ = t.writeHistory(ctx)
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
	t, err := s.begin(ctx, pool, readOnly, writer, false)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = t.tx.Rollback()
			t.end()
			panic(p)
		}
	}()
	err = fn(t)
	if err == nil && ctx.Err() != nil {
		// T1: never commit once ctx is done. database/sql checks its own
		// context derived from ctx, which may learn of the cancellation a
		// moment after fn has.
		err = fmt.Errorf("resonance: commit %q: %w", s.path, ctx.Err())
	}
	if err == nil {
		err = t.flushForCommit(ctx)
	}
	if err == nil {
		if cerr := t.tx.Commit(); cerr != nil {
			err = s.endError("commit", ctx, cerr)
		} else if writer && s.ckpt != nil {
			s.ckpt.committed()
		}
	} else if rerr := t.tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		err = errors.Join(err, fmt.Errorf("resonance: rollback %q: %w", s.path, classify(rerr)))
	} else if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(err, ctx.Err())
	}
	t.end()
	return err
}

// begin starts a transaction on pool; Tx.end must be called once it has
// ended. explicit marks an ExplicitTx, whose end may come from another
// goroutine.
func (s *Store) begin(ctx context.Context, pool *sql.DB, readOnly, writer, explicit bool) (*Tx, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("resonance: begin %q: %w", s.path, ErrClosed)
	}
	var gid int64
	if writer {
		gid = goid()
		if s.heldBy(gid) {
			return nil, fmt.Errorf("resonance: begin %q: %w: Tx or Begin called while this goroutine already holds the store's write transaction; pass the *Tx down instead", s.path, ErrNestedTx)
		}
	}
	tx, conn, err := beginOn(ctx, pool, writer)
	if err != nil {
		return nil, s.endError("begin", ctx, err)
	}
	if writer {
		s.holder.Store(gid)
		if explicit {
			s.holderNum.Store(stackGoid())
		}
	}
	return &Tx{tx: tx, conn: conn, store: s, readOnly: readOnly, writer: writer, watch: s.startWatch(writer)}, nil
}

// beginOn begins a transaction on pool. A write transaction is begun on a
// connection taken from the pool for it, on whose driver connection its
// graph writes run (rawtx.go); a Read transaction, which cannot write, on
// the pool itself.
func beginOn(ctx context.Context, pool *sql.DB, writer bool) (*sql.Tx, *sql.Conn, error) {
	if !writer {
		tx, err := pool.BeginTx(ctx, nil)
		return tx, nil, err
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return tx, conn, nil
}

// end releases what the transaction held once it has committed or rolled
// back: its watch, for a write transaction the store's writer, and last its
// connection, so that the next transaction on it, which may begin at once
// in another goroutine, finds the writer released. Calling it again does
// nothing.
func (t *Tx) end() {
	if t.watch == nil {
		return
	}
	t.watch.stop()
	t.watch = nil
	if t.writer {
		t.store.holderNum.Store(0)
		t.store.holder.Store(0)
	}
	// After a rollback on a cancelled context database/sql may have closed
	// the connection already: Close then reports sql.ErrConnDone.
	if t.conn != nil {
		_ = t.conn.Close()
	}
}

// txWatch reports a transaction still open after half the busy timeout
// (W8): a log line and Store.Metrics().LongTransactions. Its timer is made
// once and reused through the store's pool, so beginning a transaction
// allocates no timer.
type txWatch struct {
	s      *Store
	timer  *time.Timer
	start  atomic.Int64 // UnixNano when the transaction began
	writer atomic.Bool
}

func (s *Store) startWatch(writer bool) *txWatch {
	w, _ := s.watches.Get().(*txWatch)
	if w == nil {
		w = &txWatch{s: s}
	}
	w.start.Store(time.Now().UnixNano())
	w.writer.Store(writer)
	if w.timer == nil {
		w.timer = time.AfterFunc(s.opts.BusyTimeout/2, w.fire)
	} else {
		w.timer.Reset(s.opts.BusyTimeout / 2)
	}
	return w
}

// stop disarms the watch. One that fired is not reused: its report may
// still be running.
func (w *txWatch) stop() {
	if w.timer.Stop() {
		w.s.watches.Put(w)
	}
}

func (w *txWatch) fire() {
	w.s.reportLong(time.Duration(time.Now().UnixNano()-w.start.Load()), w.writer.Load())
}

// reportLong counts and logs a transaction open for longer than half the
// busy timeout (W8).
func (s *Store) reportLong(open time.Duration, writer bool) {
	s.longTx.Add(1)
	s.opts.Logger.Warn("resonance: transaction open longer than half the busy timeout; other writers may time out",
		"db", s.path, "open_for", open.Round(time.Millisecond), "busy_timeout", s.opts.BusyTimeout, "write", writer)
}

// heldBy reports whether the goroutine with identity gid, the caller,
// holds the store's write transaction.
func (s *Store) heldBy(gid int64) bool {
	return s.holder.Load() == gid && s.holdsExplicit(gid)
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
	if s.closed.Load() && !errors.Is(err, ErrClosed) {
		// Close ran while this write waited for the writer (O4).
		return fmt.Errorf("resonance: %s %q: %w: %w", op, s.path, ErrClosed, classify(err))
	}
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
	ctx context.Context
}

// Begin starts an explicit write transaction (the seed's beginTransaction).
// Prefer Store.Tx, which cannot leak the writer.
func (s *Store) Begin(ctx context.Context) (*ExplicitTx, error) {
	t, err := s.begin(ctx, s.writer, s.opts.ReadOnly, true, true)
	if err != nil {
		return nil, err
	}
	return &ExplicitTx{Tx: t, ctx: ctx}, nil
}

// Commit commits the transaction and releases the writer.
func (e *ExplicitTx) Commit() error {
	defer e.release()
	if err := e.ctx.Err(); err != nil {
		_ = e.tx.Rollback() // never commit once ctx is done (see Store.run)
		return fmt.Errorf("resonance: commit %q: %w", e.store.path, err)
	}
	if err := e.flushForCommit(e.ctx); err != nil {
		_ = e.tx.Rollback()
		return err
	}
	if err := e.tx.Commit(); err != nil {
		return e.store.endError("commit", e.ctx, err)
	}
	if e.store.ckpt != nil {
		e.store.ckpt.committed()
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

func (e *ExplicitTx) release() { e.end() }

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
