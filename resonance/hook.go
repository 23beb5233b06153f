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
		return fmt.Errorf("A4 Options.ConnectHook: %w", err)
	}
	if !conn.AutoCommit() {
		return fmt.Errorf("C7 Options.ConnectHook left a transaction open: the hook must end what it begins")
	}
	quiet := func(string) {}
	if err := checkDefaults(conn, c.opts.ReadOnly, "Options.ConnectHook changed it"); err != nil {
		return err
	}
	mode, err := queryString(conn, "PRAGMA journal_mode", quiet)
	if err != nil {
		return fmt.Errorf("C2 journal_mode: reading it back after Options.ConnectHook: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("C2 journal_mode: Options.ConnectHook changed it to %q: the hook must leave the connector's settings as they are", mode)
	}
	for _, p := range c.pragmas {
		got, err := queryString(conn, "PRAGMA "+p.name, quiet)
		if err != nil {
			return fmt.Errorf("%s %s: reading it back after Options.ConnectHook: %w", p.rule, p.name, err)
		}
		if got != p.expect {
			return fmt.Errorf("%s %s: Options.ConnectHook changed it: read back %q after the hook, want %q (%s): the hook must leave the connector's settings as they are",
				p.rule, p.name, got, p.expect, p.value)
		}
	}
	return nil
}

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
