package resonance

import (
	"context"
	"path/filepath"
	"testing"
)

// testConn opens a classifiedConn of a store's writer on a new database.
func testConn(tb testing.TB) *classifiedConn {
	path := filepath.Join(tb.TempDir(), "conn.db")
	o, err := Options{Create: true}.withDefaults(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := prepareFile(path, o); err != nil {
		tb.Fatal(err)
	}
	c, err := newStoreWriterConnector(path, o, "immediate")
	if err != nil {
		tb.Fatal(err)
	}
	dc, err := c.Connect(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dc.Close() })
	return dc.(*classifiedConn)
}

// TestResetSession_DiscardsAfterASettingPragma: what SQLite compiles, not
// the statement's text, decides whether a connection goes back to the
// pool (C7): a PRAGMA that sets a checked setting discards it, one that
// reads a setting or runs an action does not, nor text that only names one.
func TestResetSession_DiscardsAfterASettingPragma(t *testing.T) {
	ctx := context.Background()
	for stmt, discard := range map[string]bool{
		"PRAGMA busy_timeout = 5000":                 true,
		"pragma QUERY_ONLY=off":                      true,
		"PRAGMA main.synchronous = FULL":             true,
		"SELECT 1; PRAGMA mmap_size = 0":             false, // go-sqlite3 runs the statements one by one: see below
		"PRAGMA busy_timeout":                        false,
		"PRAGMA optimize=0x10002":                    false,
		"PRAGMA wal_checkpoint(PASSIVE)":             false,
		"SELECT * FROM pragma_table_info('x')":       false,
		"SELECT 'PRAGMA busy_timeout = 0' AS pragma": false,
		"CREATE TABLE IF NOT EXISTS pragma (x)":      false,
		"PRAGMA recursive_triggers = ON":             true,
		"PRAGMA integrity_check(1)":                  false,
	} {
		c := testConn(t)
		if _, err := c.ExecContext(ctx, stmt, nil); err != nil {
			t.Errorf("%s: %v", stmt, err)
			continue
		}
		err := c.ResetSession(ctx)
		if discard && err == nil {
			t.Errorf("after %q the connection goes back to the pool", stmt)
		}
		if !discard && stmt != "SELECT 1; PRAGMA mmap_size = 0" && err != nil {
			t.Errorf("after %q: ResetSession = %v, want the connection kept", stmt, err)
		}
		if stmt == "SELECT 1; PRAGMA mmap_size = 0" && err == nil {
			t.Errorf("after %q the connection goes back to the pool", stmt)
		}
	}
}
