package resonance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Health is the report of CheckHealth (C9). It is healthy when Problems is
// empty; CheckHealth and Store.Health then return a nil error.
type Health struct {
	// Settings are the connection's journal_mode, busy_timeout (ms),
	// synchronous, mmap_size, temp_store, foreign_keys and query_only, as
	// SQLite reports them ("wal", "5000", "1"…).
	Settings map[string]string `json:"settings"`
	// WriteProbe is "ok", or says why the probe was skipped or failed.
	WriteProbe string `json:"write_probe"`
	// Problems names each rule that is off, e.g. "C4 mmap_size is 1048576, want 0".
	Problems []string `json:"problems,omitempty"`
}

// CheckHealth checks one connection of db (C9): it reads its settings and,
// unless the connection is query_only, writes a row to a _health table
// (which keeps its 10 newest rows) and reads it back. It returns the report
// and, when anything is off, an error naming every rule that is.
func CheckHealth(ctx context.Context, db *sql.DB) (Health, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return Health{}, fmt.Errorf("resonance: health: %w", classify(err))
	}
	defer conn.Close()
	return checkHealth(ctx, conn)
}

// checkHealth is CheckHealth on one connection.
func checkHealth(ctx context.Context, conn *sql.Conn) (Health, error) {
	var h Health
	var journal string
	var busy, synchronous, tempStore, foreignKeys, queryOnly, mmap int64
	err := conn.QueryRowContext(ctx, `SELECT
		(SELECT * FROM pragma_journal_mode), (SELECT * FROM pragma_busy_timeout),
		(SELECT * FROM pragma_synchronous), (SELECT * FROM pragma_temp_store),
		(SELECT * FROM pragma_foreign_keys), (SELECT * FROM pragma_query_only)`).Scan(
		&journal, &busy, &synchronous, &tempStore, &foreignKeys, &queryOnly)
	if err == nil {
		err = conn.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mmap)
	}
	if err != nil {
		return h, fmt.Errorf("resonance: health: reading pragmas: %w", classify(err))
	}
	journal = strings.ToLower(journal)
	h.Settings = map[string]string{"journal_mode": journal}
	for name, v := range map[string]int64{"busy_timeout": busy, "synchronous": synchronous, "mmap_size": mmap,
		"temp_store": tempStore, "foreign_keys": foreignKeys, "query_only": queryOnly} {
		h.Settings[name] = strconv.FormatInt(v, 10)
	}
	check := func(ok bool, format string, args ...any) {
		if !ok {
			h.Problems = append(h.Problems, fmt.Sprintf(format, args...))
		}
	}
	check(busy > 0, "C1 busy_timeout is %d ms, want > 0 (default 5000)", busy)
	check(journal == "wal", "C2 journal_mode is %q, want wal", journal)
	check(synchronous == 1, "C3 synchronous is %d, want 1 (NORMAL)", synchronous)
	check(mmap == 0, "C4 mmap_size is %d, want 0", mmap)
	check(tempStore == 2, "C5 temp_store is %d, want 2 (MEMORY)", tempStore)
	check(foreignKeys == 1, "C6 foreign_keys is %d, want 1 (ON)", foreignKeys)

	if queryOnly == 1 {
		h.WriteProbe = "skipped: read-only connection (query_only)"
	} else if err := writeProbe(ctx, conn); err != nil {
		h.WriteProbe = "failed: " + err.Error()
		h.Problems = append(h.Problems, "C9 write/read probe failed: "+classify(err).Error())
	} else {
		h.WriteProbe = "ok"
	}
	if len(h.Problems) > 0 {
		return h, fmt.Errorf("resonance: health: unhealthy: %s", strings.Join(h.Problems, "; "))
	}
	return h, nil
}

// writeProbe writes a row to _health, reads it back and trims the table to
// its 10 newest rows, in one transaction.
func writeProbe(ctx context.Context, conn *sql.Conn) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreTxDone(tx.Rollback()))
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS _health (
		id INTEGER PRIMARY KEY AUTOINCREMENT, checked_at TEXT NOT NULL)`); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	res, err := tx.ExecContext(ctx, `INSERT INTO _health (checked_at) VALUES (?)`, stamp)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	var got string
	if err := tx.QueryRowContext(ctx, `SELECT checked_at FROM _health WHERE id = ?`, id).Scan(&got); err != nil {
		return err
	}
	if got != stamp {
		return fmt.Errorf("wrote %q, read back %q", stamp, got)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM _health WHERE id <= ?`, id-10); err != nil {
		return err
	}
	return tx.Commit()
}

func ignoreTxDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// fileSize returns the size of the file at path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// librarySchema is what the library's queries need of the schema its
// migrations create: every table with its columns. (The internal test
// TestLibrarySchema_IsWhatTheMigrationsCreate keeps it in step.)
var librarySchema = []struct {
	table   string
	columns []string
}{
	{"nodes", []string{"id", "type", "title", "domain", "layer", "embedding", "hash", "meta", "date", "summary"}},
	{"edges", []string{"source", "target", "type", "confidence", "veracity", "context_source"}},
	{"ember_state", []string{"file_path", "last_analyzed", "sidecar_created", "confidence"}},
	{"history", []string{"id", "entity_type", "entity_id", "action", "old_value", "new_value", "timestamp"}},
	{"node_changes", []string{"seq", "node_rowid"}},
	{"vector_snapshot", []string{"generation", "seq", "schema_version", "published", "parts", "bytes", "names"}},
	{"vector_snapshot_parts", []string{"generation", "part", "data"}},
}

// libraryObjects are the indexes and triggers the library's migrations
// create, by kind and name.
var libraryObjects = []schemaObject{
	{"index", "idx_edges_target"},
	{"trigger", "node_changes_delete"}, {"trigger", "node_changes_insert"},
	{"trigger", "node_changes_prune"}, {"trigger", "node_changes_update"},
}

// schemaProblems names, as health problems, each table, column, index and
// trigger of librarySchema and libraryObjects that q's database lacks.
func schemaProblems(ctx context.Context, q querier) ([]string, error) {
	var problems []string
	for _, t := range librarySchema {
		rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_xinfo(?)`, t.table)
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			have[strings.ToLower(c)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(have) == 0 {
			problems = append(problems, fmt.Sprintf("C9 schema: table %s is missing", t.table))
			continue
		}
		for _, c := range t.columns {
			if !have[c] {
				problems = append(problems, fmt.Sprintf("C9 schema: %s has no column %s", t.table, c))
			}
		}
	}
	for _, o := range libraryObjects {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = ? AND name = ?`, o.kind, o.name).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			problems = append(problems, fmt.Sprintf("C9 schema: %s %s is missing", o.kind, o.name))
		}
	}
	return problems, nil
}
