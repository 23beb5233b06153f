package resonance_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestOpen_WALDeletedNamesTheFile: with -wal deleted under a process that
// has the database open, a new connection cannot read the database; its
// error names the missing -wal and what to do, not a bare "disk I/O error".
func TestOpen_WALDeletedNamesTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	db, err := resonance.Connect(ctx, path, resonance.Options{ReadOnly: true})
	if err == nil {
		db.Close()
		t.Fatal("a new connection opened the database with its -wal deleted under an open store")
	}
	for _, want := range []string{path, "graph.db-wal", "deleted", "never delete"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the open error %q lacks %q", err, want)
		}
	}
}

// TestOpen_DatabaseDeletedWhileOpen: with the database file deleted while
// a store has it open (-wal and -shm remain), a new connection is not told
// to create the database.
func TestOpen_DatabaseDeletedWhileOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err := resonance.Connect(ctx, path, resonance.Options{ReadOnly: true})
	if err == nil || strings.Contains(err.Error(), "resonance init") || !strings.Contains(err.Error(), "deleted while") {
		t.Errorf("opening a database deleted while open: %v, want an error saying it was deleted while open", err)
	}
}

// captureLogs is a slog.Handler that keeps the level and message of the
// records it receives.
type captureLogs struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (c captureLogs) Enabled(context.Context, slog.Level) bool { return true }
func (c captureLogs) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.msgs = append(*c.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (c captureLogs) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c captureLogs) WithGroup(string) slog.Handler      { return c }

// TestClose_WarnsWhenThePathNoLongerLeadsToTheDatabase: when the database
// file, or its directory, was removed, moved or replaced while the store
// had it open, its writes went to a file no one will find again: Close
// logs a warning naming the path. A store whose file stayed put logs none.
func TestClose_WarnsWhenThePathNoLongerLeadsToTheDatabase(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		change func(t *testing.T, path string)
		warn   bool
	}{
		{"unchanged", func(*testing.T, string) {}, false},
		{"file removed", func(t *testing.T, path string) { os.Remove(path) }, true},
		{"directory removed", func(t *testing.T, path string) { os.RemoveAll(filepath.Dir(path)) }, true},
		{"file replaced", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "graph.db")
			var msgs []string
			s, err := resonance.Open(ctx, path, resonance.Options{Create: true, Logger: slog.New(captureLogs{new(sync.Mutex), &msgs})})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
			}); err != nil {
				t.Fatal(err)
			}
			c.change(t, path)
			s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc"})
			})
			s.Close()
			var warned []string
			for _, m := range msgs {
				if strings.HasPrefix(m, "WARN") && strings.Contains(m, "no longer") {
					warned = append(warned, m)
				}
			}
			if c.warn && len(warned) == 0 {
				t.Errorf("Close logged no warning that %s no longer leads to the database: %q", path, msgs)
			}
			if !c.warn && len(warned) > 0 {
				t.Errorf("Close warned about a database that stayed put: %q", warned)
			}
		})
	}
}

// TestStore_CheckpointAfterDeleteCreatesNothing: writes after the
// database file was deleted under an open store wake the background
// checkpoint: it must not create an empty database in the deleted one's
// place.
func TestStore_CheckpointAfterDeleteCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{Create: true})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Past the background checkpoint's threshold (see
	// TestCheckpointer_CopiesTheWALInTheBackground).
	fillGraph(t, s, "after-delete", 2400)
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			t.Fatal("a file was created in place of the deleted database")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
