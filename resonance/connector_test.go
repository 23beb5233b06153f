package resonance_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The connector's statements on each new connection, in order: busy_timeout
// first (C1), journal_mode read before it is set and set only when it is not
// WAL (C2), then the other settings, each read back (C7).
func TestConnect_Trace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	var mu sync.Mutex
	var stmts []string
	trace := func(s string) {
		mu.Lock()
		stmts = append(stmts, s)
		mu.Unlock()
	}
	db, err := resonance.Connect(ctx, path, resonance.Options{Create: true, TraceConnect: trace})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	want := []string{
		"PRAGMA busy_timeout = 5000",
		"PRAGMA journal_mode",
		"PRAGMA journal_mode = WAL",
		"PRAGMA temp_store = MEMORY;",
		"PRAGMA synchronous",
		"PRAGMA mmap_size = 0",
		"PRAGMA temp_store",
		"PRAGMA foreign_keys",
	}
	if diff := cmp.Diff(want, stmts); diff != "" {
		t.Errorf("statements on a new database (-want +got):\n%s", diff)
	}

	// Reopened read-only: the file is WAL already, so journal_mode is only
	// read; query_only is set and read back.
	stmts = nil
	db, err = resonance.Connect(ctx, path, resonance.Options{ReadOnly: true, TraceConnect: trace})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	want = []string{
		"PRAGMA busy_timeout = 5000",
		"PRAGMA journal_mode",
		"PRAGMA temp_store = MEMORY;PRAGMA query_only = ON;",
		"PRAGMA synchronous",
		"PRAGMA mmap_size = 0",
		"PRAGMA temp_store",
		"PRAGMA foreign_keys",
		"PRAGMA query_only",
	}
	if diff := cmp.Diff(want, stmts); diff != "" {
		t.Errorf("statements on a WAL database, read-only (-want +got):\n%s", diff)
	}
	for _, s := range stmts {
		if strings.Contains(s, "pragma_") {
			t.Errorf("%q reads settings through table-valued functions, which cost a virtual table per connection", s)
		}
	}
}

// Switching a new database to WAL takes an exclusive lock that SQLite
// tries once, without its busy handler, when the connection already holds a
// shared lock: connections opening the same new database at the same moment
// made one another fail at once with SQLITE_BUSY. The connector tries again
// within the busy timeout (C1, C2; M2's concurrent first opens).
func TestConnect_ConcurrentFirstOpens(t *testing.T) {
	ctx := context.Background()
	for round := range 10 {
		path := filepath.Join(t.TempDir(), "new.db")
		const n = 6
		errs := make(chan error, n)
		var start sync.WaitGroup
		start.Add(1)
		for range n {
			go func() {
				start.Wait()
				db, err := resonance.Connect(ctx, path, resonance.Options{Create: true})
				if err == nil {
					err = db.Close()
				}
				errs <- err
			}()
		}
		start.Done()
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: one of %d connections opening a new database at once: %v", round, n, err)
			}
		}
	}
}
