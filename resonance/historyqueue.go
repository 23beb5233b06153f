package resonance

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// The history rows of the graph writes of a Tx (UpsertNode, InsertEdge,
// UpsertSemanticEdge) are queued in the Tx and written historyBatch at a
// time, by one INSERT with that many rows of VALUES: a statement costs
// SQLite and the driver about as much as the rows it writes, and a history
// row is half the statements of W1's ingest.
//
// The queue is written, in the order of the writes, before anything can
// see the history table or end the transaction: before every statement the
// caller runs through the Tx (ExecContext, QueryContext, QueryRowContext,
// and so Queries and every read of the Tx), before the other graph writes
// (UpdateNodeMeta, UpdateNodeDate go through Queries) and before the
// commit. A PrepareContext turns the queue off for the rest of the
// transaction, since its statement may run at any later time. So every
// history row is still written in the transaction of its write and in the
// order of the writes, and nothing inside or outside the transaction can
// tell, except for the timestamp column: CURRENT_TIMESTAMP is the time of
// the statement that writes the row, at most the transaction's duration
// after the write, and never after the commit.
//
// When writing queued rows fails, the rows are lost and the Tx refuses
// every later write, statement and the commit with that error: the
// transaction can only roll back.

// historyBatch is the most history rows one statement writes. It is a
// power of two: a queue of n rows is written by the statements for the
// powers of two that add up to n.
const historyBatch = 32

// sqlInsertHistoryRows[k] writes k history rows, for k a power of two up
// to historyBatch: sqlc's InsertHistory with k rows of values.
// sqlInsertHistoryRows[1] is InsertHistory itself.
var sqlInsertHistoryRows = historyStatements(sqlInsertHistory)

func historyStatements(one string) [historyBatch + 1]string {
	const values = "(?, ?, ?, ?, ?)"
	head := strings.TrimRight(one, " \t\n;")
	if !strings.HasSuffix(head, values) {
		panic(fmt.Sprintf("resonance: InsertHistory (queries/history.sql) no longer ends with VALUES %s: %q", values, one))
	}
	var s [historyBatch + 1]string
	s[1] = one
	for k := 2; k <= historyBatch; k *= 2 {
		s[k] = head + strings.Repeat(",\n       "+values, k-1)
	}
	return s
}

// historyQueue is the history rows of a Tx not written yet. It is used
// only inside Tx.raw, under the connection's lock.
type historyQueue struct {
	// args holds 5 arguments per row, in the order of the writes; their
	// ordinals are set when they are written.
	args []driver.NamedValue
	// text holds the entity ids and new values of the queued rows, which
	// args refer to without copying (bytesText). Appending may move it:
	// the strings taken before keep the old memory, which is not written
	// again. It is reused once the rows are written.
	text []byte
	// direct writes each row at once: for transactions of a single write
	// (the Store methods) and after PrepareContext.
	direct bool
	// err is the failure of a write of queued rows.
	err error
}

// add queues one history row and writes the queue when it is full or
// direct is set. entity and action are constants: converting them to
// driver.Value at the call allocates nothing.
func (q *historyQueue) add(rc rawConn, entity, id, action, old, new driver.Value) error {
	q.args = append(q.args,
		driver.NamedValue{Value: entity}, driver.NamedValue{Value: id}, driver.NamedValue{Value: action},
		driver.NamedValue{Value: old}, driver.NamedValue{Value: new})
	if q.direct || len(q.args) >= 5*historyBatch {
		return q.write(rc)
	}
	return nil
}

// write writes the queued rows. A failure is kept in q.err.
func (q *historyQueue) write(rc rawConn) error {
	if q.err != nil {
		return q.err
	}
	a := q.args
	for len(a) > 0 {
		k := historyBatch
		for 5*k > len(a) {
			k /= 2
		}
		rows := a[:5*k]
		for i := range rows {
			rows[i].Ordinal = i + 1
		}
		if err := rc.run(sqlInsertHistoryRows[k], rows); err != nil {
			q.err = &historyWriteError{rows: len(q.args) / 5, err: err}
			break
		}
		a = a[5*k:]
	}
	clear(q.args)
	q.args = q.args[:0]
	q.text = q.text[:0]
	return q.err
}

// historyWriteError is the failure of a write of queued history rows.
type historyWriteError struct {
	rows int
	err  error
}

func (e *historyWriteError) Error() string {
	return fmt.Sprintf("resonance: write the history rows of %d graph writes: %v", e.rows, e.err)
}

func (e *historyWriteError) Unwrap() error { return e.err }

// wrapWriteError names the graph write op in err, unless err is the
// failure of queued history rows, which names its own.
func wrapWriteError(op, stage string, err error) error {
	var he *historyWriteError
	if errors.As(err, &he) {
		return err
	}
	return fmt.Errorf("resonance: %s: %s%w", op, stage, err)
}

// appendText appends to the queue's text with fn and returns what fn
// appended, for a statement argument of a queued row.
func (q *historyQueue) appendText(fn func([]byte) []byte) string {
	start := len(q.text)
	q.text = fn(q.text)
	return bytesText(q.text[start:])
}

// flushForCommit is writeHistory before the commit: an error means the
// transaction must roll back instead.
func (t *Tx) flushForCommit(ctx context.Context) error {
	err := t.writeHistory(ctx)
	var he *historyWriteError
	if err == nil || errors.As(err, &he) {
		return err
	}
	return t.store.endError("commit", ctx, err)
}

// writeHistory writes the queued history rows of t, or returns the error
// of an earlier failed write. A Read transaction never queues any.
func (t *Tx) writeHistory(ctx context.Context) error {
	if t.readOnly {
		return nil
	}
	return t.raw(ctx, func(rc rawConn) error { return t.hist.write(rc) })
}
