package resonance

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The Store's one-write methods (UpsertNode, InsertEdge, UpsertSemanticEdge)
// run no caller code inside their transaction, so they do not need what
// Store.Tx gives a caller's function: a *sql.Tx, whose BeginTx starts a
// goroutine per transaction to roll it back when the context ends, and a
// timer for the long-transaction report (W8). writeOne begins, writes and
// commits inside one sql.Conn.Raw call on the writer's driver connection:
// BEGIN IMMEDIATE (W4), the write with its history row, then COMMIT, or
// ROLLBACK on any error. The rules stay those of Store.Tx: nothing commits
// once ctx is done (T1), a goroutine that holds the store's write
// transaction is refused with ErrNestedTx (T2), and a transaction that
// stayed open longer than half the busy timeout is reported when it ends
// (W8).

// singleTxs reuses the Tx values of writeOne, with the buffers of their
// history rows.
var singleTxs = sync.Pool{New: func() any { return new(Tx) }}

// writeOne runs fn, a graph write that uses only Tx.raw, in a write
// transaction of its own.
func (s *Store) writeOne(ctx context.Context, fn func(*Tx) error) error {
	if s.opts.ReadOnly {
		// The writer is query_only and cannot BEGIN IMMEDIATE; Store.Tx
		// reports the write as ErrReadOnly.
		return s.Tx(ctx, fn)
	}
	if s.closed.Load() {
		return fmt.Errorf("resonance: begin %q: %w", s.path, ErrClosed)
	}
	if s.heldBy(goid()) {
		return fmt.Errorf("resonance: begin %q: %w: a Store write called while this goroutine holds the store's write transaction; call the method on its *Tx instead", s.path, ErrNestedTx)
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return s.endError("begin", ctx, err)
	}
	defer conn.Close()
	var began time.Time
	var fnErr error // fn's error, or the commit's, returned as is
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(classifiedConn)
		if !ok {
			return fmt.Errorf("driver connection %T is not the connector's", dc)
		}
		if _, err := c.SQLiteConn.ExecContext(ctx, "BEGIN IMMEDIATE", nil); err != nil {
			return s.endError("begin", ctx, err)
		}
		began = time.Now()
		t := singleTxs.Get().(*Tx)
		t.store, t.writer, t.held = s, true, c
		t.hist.direct = true // one write: its history row goes with it
		fnErr = fn(t)
		if fnErr == nil && t.hist.err != nil {
			fnErr = t.hist.err
		}
		t.recycle()
		singleTxs.Put(t)
		if fnErr == nil && ctx.Err() != nil {
			fnErr = fmt.Errorf("resonance: commit %q: %w", s.path, ctx.Err())
		}
		if fnErr == nil {
			// Like the driver's Tx.Commit, COMMIT runs whatever ctx says
			// now: it was checked above, and an interrupted COMMIT would
			// leave the outcome to the ROLLBACK below.
			if _, err := c.SQLiteConn.ExecContext(context.Background(), "COMMIT", nil); err != nil {
				fnErr = s.endError("commit", ctx, err)
			}
		}
		if fnErr != nil {
			if _, err := c.SQLiteConn.ExecContext(context.Background(), "ROLLBACK", nil); err != nil && !c.AutoCommit() {
				fnErr = errors.Join(fnErr, fmt.Errorf("resonance: rollback %q: %w", s.path, classify(err)))
			}
		}
		if !c.AutoCommit() {
			// Still inside a transaction: never hand the connection back.
			return driver.ErrBadConn
		}
		return nil
	})
	if !began.IsZero() {
		if open := time.Since(began); open > s.opts.BusyTimeout/2 {
			s.reportLong(open, true)
		}
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) {
			return fmt.Errorf("resonance: rollback %q: the transaction did not end; its connection was closed, which rolls it back", s.path)
		}
		return err
	}
	if s.ckpt != nil {
		s.ckpt.committed()
	}
	return nil
}

// recycle forgets the store and connection of a writeOne Tx and keeps the
// buffers of its history queue for the next one.
func (t *Tx) recycle() {
	q := &t.hist
	clear(q.args)
	*t = Tx{hist: historyQueue{args: q.args[:0], text: q.text[:0]}}
}
