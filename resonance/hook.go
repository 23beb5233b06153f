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
	// Settings the connector leaves at SQLite's defaults, which the store
	// relies on all the same: a query_only writer would fail its writes as
	// if the file were read-only, and an exclusive lock would hold every
	// other connection off until this one closed.
	for _, p := range []struct{ rule, name, want string }{
		{"C8", "query_only", map[bool]string{true: "1", false: "0"}[c.opts.ReadOnly]},
		{"C1", "locking_mode", "normal"},
	} {
		got, err := queryString(conn, "PRAGMA "+p.name, quiet)
		if err != nil {
			return fmt.Errorf("%s %s: reading it back after Options.ConnectHook: %w", p.rule, p.name, err)
		}
		if !strings.EqualFold(got, p.want) {
			return fmt.Errorf("%s %s: Options.ConnectHook changed it to %q, want %q: the hook must leave the connector's settings as they are", p.rule, p.name, got, p.want)
		}
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
