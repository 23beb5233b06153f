package resonance

import (
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// runHook runs Options.ConnectHook on a connection the connector has just
// hardened, then reads every setting back with a plain PRAGMA (one that
// sets nothing), so that a hook that changed one fails the connection
// naming the rule (A4). The read-backs are not traced: TraceConnect shows
// the connector's own statements, busy_timeout first on each connection.
func (c *connector) runHook(conn *sqlite3.SQLiteConn) error {
	if c.opts.ConnectHook == nil {
		return nil
	}
	if err := c.opts.ConnectHook(conn); err != nil {
		if c.opts.ReadOnly {
			// query_only refuses the hook's writes with SQLITE_READONLY,
			// which is not the files' permissions.
			return hookError{fmt.Errorf("A4 Options.ConnectHook: %w: this connection is read-only (query_only, C8) and attaches nothing: "+
				"on a read-only store a hook may register functions, collations and extensions and read, not write, begin a write transaction, create TEMP objects or ATTACH", err)}
		}
		return hookError{fmt.Errorf("A4 Options.ConnectHook: %w", err)}
	}
	// go-sqlite3 reports no file name for a closed connection.
	if conn.GetFilename("main") == "" {
		return hookError{fmt.Errorf("A4 Options.ConnectHook closed the connection it was given: the connector owns it; the hook must leave it open")}
	}
	if !conn.AutoCommit() {
		return hookError{fmt.Errorf("C7 Options.ConnectHook left a transaction open: the hook must end what it begins")}
	}
	quiet := func(string) {}
	mode, err := queryString(conn, "PRAGMA journal_mode", quiet)
	if err != nil {
		return hookError{fmt.Errorf("C2 journal_mode: reading it back after Options.ConnectHook: %w", err)}
	}
	if !strings.EqualFold(mode, "wal") {
		// The switch rewrote the file header: put the file back in WAL
		// mode before refusing, or every later opener would find it in
		// rollback-journal mode.
		herr := fmt.Errorf("C2 journal_mode: Options.ConnectHook changed it to %q: the hook must leave the connector's settings as they are", mode)
		if err := c.journalWAL(conn); err != nil {
			herr = fmt.Errorf("%w; switching the file back to WAL failed too: %w: open it once with resonance without the hook", herr, err)
		}
		return hookError{herr}
	}
	if err := checkDefaults(conn, c.opts.ReadOnly, "Options.ConnectHook changed it"); err != nil {
		return hookError{err}
	}
	for _, p := range c.pragmas {
		got, err := queryString(conn, "PRAGMA "+p.name, quiet)
		if err != nil {
			return hookError{fmt.Errorf("%s %s: reading it back after Options.ConnectHook: %w", p.rule, p.name, err)}
		}
		if got != p.expect {
			return hookError{fmt.Errorf("%s %s: Options.ConnectHook changed it: read back %q after the hook, want %q (%s): the hook must leave the connector's settings as they are",
				p.rule, p.name, got, p.expect, p.value)}
		}
	}
	return nil
}

// hookError is a connection's failure caused by Options.ConnectHook: the
// open error names the hook as the cause, never the files' permissions,
// though SQLite's code (SQLITE_READONLY from query_only) may suggest them.
type hookError struct{ err error }

func (e hookError) Error() string { return e.err.Error() }
func (e hookError) Unwrap() error { return e.err }

// reliedDefaults are settings the connector leaves at SQLite's defaults (or,
// for query_only, sets only on read-only connections) and the store relies
// on all the same: a query_only writer would fail its writes as if the file
// were read-only, an exclusive lock would hold every other connection off
// until this one closed, and ignored CHECK constraints would let rows in
// that the schema forbids.
func reliedDefaults(readOnly bool) []struct{ rule, name, want string } {
	qo := "0"
	if readOnly {
		qo = "1"
	}
	return []struct{ rule, name, want string }{
		{"C8", "query_only", qo},
		{"C1", "locking_mode", "normal"},
		{"C6", "ignore_check_constraints", "0"},
	}
}

// checkDefaults reads the reliedDefaults back on conn; why says what
// changed one, in the error.
func checkDefaults(conn *sqlite3.SQLiteConn, readOnly bool, why string) error {
	for _, p := range reliedDefaults(readOnly) {
		got, err := queryString(conn, "PRAGMA "+p.name, func(string) {})
		if err != nil {
			return fmt.Errorf("%s %s: reading it back: %w", p.rule, p.name, err)
		}
		if !strings.EqualFold(got, p.want) {
			return fmt.Errorf("%s %s: %s to %q, want %q: leave the connector's settings as they are", p.rule, p.name, why, got, p.want)
		}
	}
	return nil
}
