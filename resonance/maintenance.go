package resonance

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/inuse"
)

// Maintenance statements are PRAGMAs and VACUUM, which sqlc does not
// compile; they run on the writer connection (or a reader for checks), never
// inside a transaction.

// Vacuum rebuilds the database file, returning free pages to the file
// system (O1). It needs the database to itself: VACUUM rewrites the whole
// file under the write lock, and another process's writer waits for it at
// most its busy timeout, then fails with "database is locked". So while
// another process has the database open, Vacuum refuses with ErrBusy,
// naming the process, and changes nothing (on Linux, where /proc/locks
// shows the locks every connection holds). In this process
// it runs on the writer connection: write transactions wait for it, up to
// the busy timeout. It returns ErrReadOnly on a read-only store, ErrBusy
// if the lock stayed taken past the busy timeout, ErrNestedTx when called
// with the context of an open Tx, ErrClosed on a closed store.
func (s *Store) Vacuum(ctx context.Context) error {
	// Without /proc/locks nobody can be named, and vacuum runs.
	if pids, _ := inuse.Processes(s.path); len(pids) > 0 {
		return fmt.Errorf("resonance: vacuum %q: %w: %s has the database open; VACUUM rewrites the whole file under the write lock, "+
			"and another process's writes would fail once they waited their busy timeout for it: run vacuum when no other process uses the database "+
			"(stop them, Litestream included), or, on a database whose auto_vacuum is INCREMENTAL, run an incremental vacuum instead, which frees pages without rewriting the file; nothing was changed",
			s.path, ErrBusy, inuse.Describe(pids))
	}
	return s.maintain(ctx, "vacuum", "VACUUM")
}

// Analyze gathers the statistics the query planner uses (ANALYZE). Errors
// as for Vacuum.
func (s *Store) Analyze(ctx context.Context) error {
	return s.maintain(ctx, "analyze", "ANALYZE")
}

// Optimize runs PRAGMA optimize, which analyzes the tables whose statistics
// look stale; cheap enough to run often (Close runs it too). Errors as for
// Vacuum.
func (s *Store) Optimize(ctx context.Context) error {
	return s.maintain(ctx, "optimize", "PRAGMA optimize")
}

func (s *Store) maintain(ctx context.Context, op, stmt string) error {
	conn, err := s.writerConn(ctx, op)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.opts.ReadOnly {
		// Refused here: on a query_only connection VACUUM would fail on its
		// internal ATTACH, which readers may not do, before the write.
		return fmt.Errorf("resonance: %s %q: %w: the store was opened read-only; open it read-write to run %s", op, s.path, ErrReadOnly, stmt)
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(err))
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check on a read-only connection and
// returns the problems it reports, one line each, an empty slice for a
// sound database. Problems, even SQLITE_CORRUPT, are not an error: the
// error is for failing to run the check (ErrClosed, ErrBusy…).
func (s *Store) IntegrityCheck(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("resonance: integrity check %q: %w", s.path, ErrClosed)
	}
	problems, err := integrityCheck(ctx, s.readers)
	if err != nil {
		if code, _, ok := sqliteCode(err); ok && (code == sqlite3.ErrCorrupt || code == sqlite3.ErrNotADB) {
			// Damage bad enough to stop the check is its finding.
			return append(problems, err.Error()), nil
		}
		return nil, fmt.Errorf("resonance: integrity check %q: %w", s.path, classify(err))
	}
	return problems, nil
}

func integrityCheck(ctx context.Context, q querier) ([]string, error) {
	problems := []string{}
	rows, err := q.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return problems, err
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return problems, err
		}
		if p == "ok" {
			continue
		}
		// A row of the b-tree check holds one line per problem, after a
		// "*** in database main ***" heading: one problem, one entry.
		for line := range strings.SplitSeq(p, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "*** in database ") {
				problems = append(problems, line)
			}
		}
	}
	return problems, rows.Err()
}

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// IncrementalVacuum returns up to pages free pages to the file system (all
// of them when pages is 0). It works only on a database whose auto_vacuum
// is INCREMENTAL; on any other it returns an error wrapping ErrInvalid
// that says how to switch (PRAGMA auto_vacuum = INCREMENTAL, then VACUUM,
// which rewrites the file once). A negative pages is refused with
// ErrInvalid. Other errors as for Vacuum.
func (s *Store) IncrementalVacuum(ctx context.Context, pages int) error {
	const op = "incremental vacuum"
	if pages < 0 {
		return fmt.Errorf("resonance: %s %q: %w: pages is %d; pass 0 for every free page", op, s.path, ErrInvalid, pages)
	}
	conn, err := s.writerConn(ctx, op)
	if err != nil {
		return err
	}
	defer conn.Close()
	var mode int
	if err := conn.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(err))
	}
	if mode != autoVacuumIncremental {
		names := map[int]string{0: "NONE", 1: "FULL"}
		return fmt.Errorf("resonance: %s %q: %w: auto_vacuum is %s, not INCREMENTAL; enable it once with PRAGMA auto_vacuum = INCREMENTAL followed by VACUUM (which rewrites the whole file), or use Vacuum",
			op, s.path, ErrInvalid, names[mode])
	}
	// Each step of the statement frees one page: Exec would step once, so
	// the rows are drained.
	rows, err := conn.QueryContext(ctx, "PRAGMA incremental_vacuum("+strconv.Itoa(pages)+")")
	if err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resonance: %s %q: %w", op, s.path, classify(err))
	}
	return nil
}
