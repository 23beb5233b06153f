package resonance

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// The copy of the original's rows (X1), in chunks so that a long
// conversion can say how far it has come (WithProgress). The chunks are
// statements of the one conversion transaction: the file still changes at
// the commit alone, all or nothing.

// adoptChunk is the width of the rowid range one statement of the copy
// inserts, and so the most rows it inserts; the progress func is called
// after each. It is large enough that the copy takes the CPU time of one
// statement a table (BenchmarkOpen_AdoptOriginal; the figures are in the
// README). Tests make it small.
var adoptChunk int64 = 50000

type progressKey struct{}

// WithProgress returns a copy of ctx that carries progress, for Open. When
// a read-write Open converts a database made by the original (X1), it
// copies the rows of the original's nodes, edges, ember_state and history
// tables in chunks and calls progress after each with the rows done so far
// and the total: first (0, total), then growing values up to (total,
// total). Dropping the original's tables, the later migrations and the
// commit follow the last call; until the commit nothing is written, and a
// failure at any point leaves the file as it was, as without progress.
//
// progress runs on the goroutine that called Open, inside the conversion's
// write transaction, and should return quickly. Nothing else in the
// package reads it: an Open that converts nothing never calls it, and
// Store.Backup takes its own progress func.
func WithProgress(ctx context.Context, progress func(done, total int64)) context.Context {
	if progress == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, progress)
}

// progressOf returns the func WithProgress put in ctx, or one that does
// nothing.
func progressOf(ctx context.Context) func(done, total int64) {
	if p, ok := ctx.Value(progressKey{}).(func(done, total int64)); ok {
		return p
	}
	return func(int64, int64) {}
}

// originalCopy is the statement that copies one of the original's renamed
// tables into this schema's, without its WHERE clause: each chunk adds a
// rowid range, in rowid order, the order of a whole-table scan.
type originalCopy struct {
	table, from, insert string
}

var originalCopies = []originalCopy{
	{"nodes", "_original_nodes", `INSERT INTO nodes (id, type, title, domain, layer, embedding, hash, summary, meta, date)
		SELECT id, coalesce(type, '` + adoptedType + `'), title, coalesce(domain, '` + defaultDomain + `'),
			coalesce(layer, '` + defaultLayer + `'), embedding, hash, summary, meta, date
		FROM _original_nodes`},
	{"edges", "_original_edges", `INSERT INTO edges (source, target, type, confidence, veracity, context_source)
		SELECT source, target, type, coalesce(confidence, 1.0), coalesce(veracity, 1.0), context_source
		FROM _original_edges`},
	{"ember_state", "_original_ember_state", `INSERT INTO ember_state (file_path, last_analyzed, sidecar_created, confidence)
		SELECT file_path, last_analyzed, coalesce(sidecar_created, 0), confidence FROM _original_ember_state`},
	// history.id is its rowid: rowid order is id order.
	{"history", "_original_history", `INSERT INTO history (id, entity_type, entity_id, action, old_value, new_value, timestamp)
		SELECT id, entity_type, entity_id, action, old_value, new_value, coalesce(timestamp, '` + adoptedTimestamp + `')
		FROM _original_history`},
}

// copyOriginalRows copies every row of the renamed tables into this
// schema's, fills the NULLs documented in adopt.go, checks that each table
// got every row, keeps history's counter, and drops the renamed tables and
// __drizzle_migrations. It reports the rows copied to ctx's progress func.
// q reads within the conversion's transaction; path names the database in
// errors.
func copyOriginalRows(ctx context.Context, q querier, exec adoptExec, path string, org *Original, seq int64) error {
	progress := progressOf(ctx)
	var done, total int64
	for _, c := range originalCopies {
		total += org.Rows[c.table]
	}
	progress(0, total)
	for _, c := range originalCopies {
		n, err := copyOriginalTable(ctx, q, exec, path, c, org.Rows[c.table], func(n int64) { progress(done+n, total) })
		if err != nil {
			return err
		}
		if want := org.Rows[c.table]; n != want {
			return fmt.Errorf("resonance: adopt %q: copying %s: %d rows copied of %d: %w; nothing was changed", path, c.table, n, want, ErrSchemaMismatch)
		}
		done += n
	}
	// Inserting explicit ids moved history's counter to the highest id; the
	// original's counter may be higher (its newest rows deleted).
	if _, err := exec("keeping history's counter", `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'history'`, seq); err != nil {
		return err
	}
	if _, err := exec("keeping history's counter", `INSERT INTO sqlite_sequence (name, seq) SELECT 'history', ?
		WHERE ? > 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'history')`, seq, seq); err != nil {
		return err
	}
	for _, t := range []string{"_original_nodes", "_original_edges", "_original_ember_state", "_original_history", `"__drizzle_migrations"`} {
		if _, err := exec("dropping the original's tables", "DROP TABLE "+t); err != nil {
			return err
		}
	}
	return nil
}

// copyOriginalTable copies c's table in rowid order, in ranges of
// adoptChunk rowids, and returns the rows copied, calling copied with the
// running count after each range. Each range starts at the smallest rowid
// not yet copied (one seek), so a gap in the rowids (deleted rows) costs
// no statement, and a range holds at most adoptChunk rows. rows is the
// table's row count, read in the same transaction: once at most a chunk
// remains, the last statement takes the rest; so lo+adoptChunk cannot
// overflow (with lo within a chunk of the largest rowid, at most a chunk
// of rows remains). The original's tables are rowid tables (findOriginal
// refuses WITHOUT ROWID ones).
func copyOriginalTable(ctx context.Context, q querier, exec adoptExec, path string, c originalCopy, rows int64, copied func(int64)) (int64, error) {
	var n int64
	seek := func(from int64) (int64, bool, error) {
		var lo sql.NullInt64
		err := q.QueryRowContext(ctx, "SELECT min(rowid) FROM "+c.from+" WHERE rowid >= ?", from).Scan(&lo)
		if err != nil {
			return 0, false, fmt.Errorf("resonance: adopt %q: copying %s: %w; nothing was changed", path, c.table, classify(err))
		}
		return lo.Int64, lo.Valid, nil
	}
	lo, ok, err := seek(math.MinInt64)
	for ok && err == nil {
		last := rows-n <= adoptChunk
		query, args := c.insert+" WHERE rowid >= ?", []any{lo}
		if !last {
			query, args = query+" AND rowid < ?", append(args, lo+adoptChunk)
		}
		var k int64
		if k, err = exec("copying "+c.table, query+" ORDER BY rowid", args...); err != nil {
			break
		}
		n += k
		copied(n)
		if last {
			break
		}
		lo, ok, err = seek(lo + adoptChunk)
	}
	return n, err
}
