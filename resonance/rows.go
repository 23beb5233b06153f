package resonance

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"

	"github.com/resonance-graph/resonancedb/db"
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

// multiRow is the texts of one generated INSERT statement (a constant of
// package db, with a single VALUES tuple) written for 1, 2, 4, …
// maxChunkRows rows, with suffix added at the end.
type multiRow [chunkSizes]string

func newMultiRow(stmt, suffix string) *multiRow {
	stmt = strings.TrimRight(stmt, "\n;")
	i := strings.Index(stmt, "VALUES (")
	if i < 0 || strings.IndexByte(stmt[i:], ')') < 0 {
		panic("resonance: not an INSERT with one VALUES tuple: " + stmt)
	}
	j := i + strings.IndexByte(stmt[i:], ')') + 1
	tuple := stmt[i+len("VALUES ") : j]
	var m multiRow
	for k := range m {
		var b strings.Builder
		b.WriteString(stmt[:j])
		for range 1<<k - 1 {
			b.WriteString(", ")
			b.WriteString(tuple)
		}
		b.WriteString(stmt[j:])
		b.WriteString(suffix)
		m[k] = b.String()
	}
	return &m
}

// text is the statement for n rows, n a power of two up to maxChunkRows.
func (m *multiRow) text(n int) string { return (*m)[bits.TrailingZeros(uint(n))] }

var (
	upsertNodeRows = newMultiRow(db.UpsertNode, "")
	historyRows    = newMultiRow(db.InsertHistory, "")
	// newEdgeRows inserts edges that must all be new: the generated
	// InsertEdge without its OR IGNORE, so that an edge that exists fails
	// the statement (see Tx.insertEdgeRows).
	newEdgeRows = newMultiRow(withoutOrIgnore(db.InsertEdge), "")
	// insertOrIgnoreEdgeRows returns the key of each edge it inserted, and
	// none for those that existed already.
	insertOrIgnoreEdgeRows = newMultiRow(db.InsertEdge, "\nRETURNING source, target, type")
)

// withoutOrIgnore returns the INSERT OR IGNORE stmt as a plain INSERT.
func withoutOrIgnore(stmt string) string {
	s := strings.Replace(stmt, "INSERT OR IGNORE INTO", "INSERT INTO", 1)
	if s == stmt {
		panic("resonance: not an INSERT OR IGNORE: " + stmt)
	}
	return s
}

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
