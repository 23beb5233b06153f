package resonance_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// The writer carries an 8 MiB page cache and checkpoints at 4,000 WAL
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
	if c, a := pageSettings(t, s.DB()); c != -8192 || a != 4000 {
		t.Errorf("writer: cache_size %d, wal_autocheckpoint %d; want -8192, 4000", c, a)
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
	if c, a := pageSettings(t, s.DB()); c != -8192 || a != 0 {
		t.Errorf("writer with ExternalCheckpoints: cache_size %d, wal_autocheckpoint %d; want -8192, 0", c, a)
	}
	if c, a := pageSettings(t, s.ReadDB()); c != -2000 || a != 0 {
		t.Errorf("reader with ExternalCheckpoints: cache_size %d, wal_autocheckpoint %d; want -2000, 0", c, a)
	}

	// Connect's connections keep SQLite's defaults: a connection opened per
	// request never warms a cache, and every setting costs each open.
	db, err := resonance.Connect(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if c, a := pageSettings(t, db); c != -2000 || a != 1000 {
		t.Errorf("Connect: cache_size %d, wal_autocheckpoint %d; want SQLite's defaults -2000, 1000", c, a)
	}
}

// Only the writer's connection runs the two settings, each read back.
func TestPragmas_WriterTrace(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var segs [][]string
	trace := func(stmt string) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(stmt, "PRAGMA busy_timeout") {
			segs = append(segs, nil)
		}
		segs[len(segs)-1] = append(segs[len(segs)-1], stmt)
	}
	s, err := resonance.Open(ctx, filepath.Join(t.TempDir(), "t.db"), resonance.Options{Create: true, MaxReaders: 2, TraceConnect: trace})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []*sql.Conn
	for range 2 {
		c, err := s.ReadDB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	// A new database: its migrations ran on a writer connection that was
	// closed after them; the writer opens another when it is used next.
	// The writer is opened first.
	isWriter := func(seg []string) bool {
		return len(seg) >= 2 && slices.Equal(seg[len(seg)-2:], []string{"PRAGMA cache_size", "PRAGMA wal_autocheckpoint = 4000"})
	}
	if len(segs) == 0 || !isWriter(segs[0]) {
		t.Fatalf("the first connection is not the writer's, ending with cache_size read back and wal_autocheckpoint set: %q", segs)
	}
	var others [][]string
	for _, seg := range segs[1:] {
		if !isWriter(seg) {
			others = append(others, seg)
		}
	}
	if len(others) != 3 || len(segs)-len(others) > 2 {
		t.Fatalf("%d connections traced, want the writer's (and the one the migrations ran on), the checkpointer's and 2 readers: %q", len(segs), segs)
	}
	for i, seg := range others {
		for _, stmt := range seg {
			if strings.Contains(stmt, "cache_size") || strings.Contains(stmt, "wal_autocheckpoint") {
				t.Errorf("connection %d (a reader or the checkpointer's) ran %q", i+1, stmt)
			}
		}
	}
}
