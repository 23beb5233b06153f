package resonance

import (
	"context"
	"database/sql"
	"math/bits"
)

// Writes of many rows (Tx.UpsertNodes, Tx.InsertEdges and the history rows
// of every write) run as INSERTs with several VALUES tuples: one statement
// per chunk of rows instead of one per row. Each statement costs SQLite a
// fixed amount besides its rows (for history, reading and writing the
// AUTOINCREMENT counter in sqlite_sequence), and each costs database/sql
// and the driver a round trip.
//
// A chunk holds a power of two rows, at most maxChunkRows, so each
// statement has at most six texts, all of which stay in go-sqlite3's
// statement cache of each connection (64 statements).
const (
	maxChunkRows = 1 << (chunkSizes - 1)
	chunkSizes   = 6 // 1, 2, 4, … maxChunkRows
)

// chunkRows is how many of n rows the next statement writes: the largest
// power of two no larger than n or maxChunkRows.
func chunkRows(n int) int {
	if n >= maxChunkRows {
		return maxChunkRows
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// multiRow is the texts of one INSERT statement for 1, 2, 4, …
// maxChunkRows rows, written out by `make generate` (rows_gen.go).
type multiRow [chunkSizes]string

// text is the statement for n rows, n a power of two up to maxChunkRows.
func (m *multiRow) text(n int) string { return m[bits.TrailingZeros(uint(n))] }

// historyRow is one row of the history table (see history.go).
type historyRow struct {
	entity, id, action string
	old, new           sql.NullString
}

// insertHistory writes rows to the history table, in order.
func (t *Tx) insertHistory(ctx context.Context, rows []historyRow) error {
	args := make([]any, 0, 5*min(len(rows), maxChunkRows))
	for len(rows) > 0 {
		k := chunkRows(len(rows))
		args = args[:0]
		for i := range rows[:k] {
			h := &rows[i]
			args = append(args, h.entity, h.id, h.action, h.old, h.new)
		}
		if _, err := t.conn.ExecContext(ctx, historyRows.text(k), args...); err != nil {
			return err
		}
		rows = rows[k:]
	}
	return nil
}
