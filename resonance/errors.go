package resonance

import (
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/output"
)

// Sentinel errors, for errors.Is; the driver's own error stays in the
// chain for errors.As. An error wraps at most one of them, with one
// exception: a call that Close cut short wraps ErrClosed and, beside it,
// whatever the call met (ErrBusy, say), so test for ErrClosed first when
// the difference matters.
var (
	// ErrNotFound: the node, edge or row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly: a write was attempted through a read-only store or
	// connection (PRAGMA query_only), or the file itself cannot be written.
	ErrReadOnly = errors.New("read-only")
	// ErrBusy: the database stayed locked by another connection for longer
	// than the busy timeout. It wraps the driver's SQLITE_BUSY or
	// SQLITE_LOCKED error.
	ErrBusy = errors.New("database is busy")
	// ErrSchemaMismatch: the database holds migration versions this binary
	// does not know (it was migrated by a newer release), or a read-only
	// store found migrations still to apply.
	ErrSchemaMismatch = errors.New("schema mismatch")
	// ErrNestedTx: a call that needs the store's writer (Tx, Begin,
	// Checkpoint, Health, maintenance) was made with the context of an open write
	// transaction of the same store, or a context derived from it: it would
	// wait for itself. Write through the *Tx instead; reads may run inside.
	ErrNestedTx = errors.New("nested transaction")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrInvalid: the input was refused before anything was written
	// (an empty id, meta that is not a JSON object, a NaN in an embedding…).
	ErrInvalid = output.ErrInvalid
	// ErrCheckpointsDisabled: Checkpoint was called on a store whose
	// checkpoints belong to an external replicator (Options.ExternalCheckpoints).
	ErrCheckpointsDisabled = errors.New("checkpoints are left to an external replicator")
	// ErrReplaced: the database file this store opened was removed, moved,
	// replaced by another file or written over in place while open; the
	// store refuses all further work. Close it, put the right file in
	// place, and open it again.
	ErrReplaced = errors.New("database file replaced while open")
	// ErrLeakedConnections: Close found connections still checked out.
	ErrLeakedConnections = errors.New("connections still checked out")
)

// errCommitRefused explains the commit hook of a Store's writer (T1).
var errCommitRefused = errors.New("refused to commit: inside a Store.Tx only its end commits, and its transaction had " +
	"already ended (SQLite rolls it back after an interrupted statement, RAISE(ROLLBACK) or a full disk) or fn ran COMMIT " +
	"itself; return an error from fn")

// classify translates a driver error into one that also wraps the matching
// sentinel. It decides on the SQLite result codes, never on message text.
// nil stays nil, and errors that already carry a sentinel are returned as is.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	if oe := explainOS(err); oe != err {
		return oe
	}
	switch se.Code {
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		if errors.Is(err, ErrBusy) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case sqlite3.ErrReadonly:
		if errors.Is(err, ErrReadOnly) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case sqlite3.ErrConstraint:
		if se.ExtendedCode == sqlite3.ErrConstraintCommitHook && !errors.Is(err, errCommitRefused) {
			return fmt.Errorf("%w: %w", err, errCommitRefused)
		}
	}
	return err
}

// sqliteCode returns the primary and extended result codes of a driver
// error, and false when err carries none.
func sqliteCode(err error) (sqlite3.ErrNo, sqlite3.ErrNoExtended, bool) {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return 0, 0, false
	}
	return se.Code, se.ExtendedCode, true
}
