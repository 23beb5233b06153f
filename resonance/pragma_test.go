package resonance_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// pageSettings reads the page cache and checkpoint settings of one
// connection of db.
func pageSettings(t *testing.T, db *sql.DB) (cacheSize, autocheckpoint int64) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&autocheckpoint); err != nil {
		t.Fatal(err)
	}
	return cacheSize, autocheckpoint
}

// The writer carries a 16 MiB page cache and checkpoints at 4,000 WAL
// pages; the readers keep SQLite's defaults (2 MiB, and 1,000 pages, which
// a query_only connection never reaches); ExternalCheckpoints turns
// checkpoints off on every connection and keeps the writer's cache.
func TestPragmas_PageCacheAndCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, a := pageSettings(t, s.DB()); c != -16384 || a != 4000 {
		t.Errorf("writer: cache_size %d, wal_autocheckpoint %d; want -16384, 4000", c, a)
	}
	if c, a := pageSettings(t, s.ReadDB()); c != -2000 || a != 1000 {
		t.Errorf("reader: cache_size %d, wal_autocheckpoint %d; want SQLite's defaults -2000, 1000", c, a)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = resonance.Open(ctx, path, resonance.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, a := pageSettings(t, s.DB()); c != -16384 || a != 0 {
		t.Errorf("writer with ExternalCheckpoints: cache_size %d, wal_autocheckpoint %d; want -16384, 0", c, a)
	}
	if c, a := pageSettings(t, s.ReadDB()); c != -2000 || a != 0 {
		t.Errorf("reader with ExternalCheckpoints: cache_size %d, wal_autocheckpoint %d; want -2000, 0", c, a)
	}

	// RequiredPragmas documents both settings of a read-write connection.
	names := map[string]string{}
	for _, p := range resonance.RequiredPragmas(resonance.Options{}) {
		names[p.Name] = p.Expect
	}
	if names["cache_size"] != "-16384" || names["wal_autocheckpoint"] != "4000" {
		t.Errorf("RequiredPragmas: cache_size %q, wal_autocheckpoint %q; want -16384, 4000", names["cache_size"], names["wal_autocheckpoint"])
	}
}
