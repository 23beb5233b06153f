package resonance_test

import (
	"context"
	"errors"
	"fmt"
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
	// The store refuses transactions begun after the delete: this one
	// began before it, and writes past the background checkpoint's
	// threshold (see TestCheckpointer_CopiesTheWALInTheBackground).
	err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
		if err := os.Remove(path); err != nil {
			return err
		}
		for i := range 2400 {
			id := fmt.Sprintf("after-delete-%06d", i)
			if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Embedding: graphEmbedding(384, uint64(i+1))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			t.Fatal("a file was created in place of the deleted database")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStore_RefusesWorkOnceTheFileWasReplaced (O4): when another file is
// renamed over the database a store has open, or the database is removed,
// every later read, write and search fails with ErrReplaced naming the
// file and the fix (open it again), instead of answering from the old file
// on some connections and the new one on others; nothing is written to the
// new file, and nothing is ever read from it. (A copy written over the same
// file is TestStore_RefusesWorkOnceTheFileWasWrittenOver.)
func TestStore_RefusesWorkOnceTheFileWasReplaced(t *testing.T) {
	ctx := context.Background()
	for _, replace := range []string{"renamed over", "removed"} {
		t.Run(replace, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
			write := func(s *resonance.Store, id string) error {
				return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
					return tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Embedding: []float32{1, 0}})
				})
			}
			sb := openStoreAt(t, b, resonance.Options{Create: true})
			if err := write(sb, "in-b"); err != nil {
				t.Fatal(err)
			}
			sb.Close()
			s := openStoreAt(t, a, resonance.Options{Create: true})
			if err := write(s, "in-a"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{K: 5}); err != nil {
				t.Fatal(err)
			}
			if replace == "renamed over" {
				if err := os.Rename(b, a); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(a); err != nil {
				t.Fatal(err)
			}
			// Until the store's next check of the path (within a tenth of a
			// second) it may still answer, but only from the file it opened.
			deadline := time.Now().Add(5 * time.Second)
			for {
				n, err := s.Reads().GetNode(ctx, "in-b")
				if err == nil {
					t.Fatalf("GetNode answered from the file now at the path: %+v", n)
				}
				if !errors.Is(err, resonance.ErrNotFound) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, resonance.ErrReplaced) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "no longer leads") || !strings.Contains(err.Error(), "open it again") {
					t.Errorf("%s after the file was %s: %v, want an error naming the file and the fix", what, replace, err)
				}
			}
			_, err := s.Reads().GetNode(ctx, "in-a")
			check("GetNode", err)
			_, err = s.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{K: 5})
			check("SearchByVector", err)
			check("Tx", write(s, "after"))
			check("Read", s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error { return nil }))
			if replace == "renamed over" {
				s.Close()
				sb := openStoreAt(t, a, resonance.Options{})
				if _, err := sb.Reads().GetNode(ctx, "after"); err == nil {
					t.Errorf("the store's write after the rename landed in the new file")
				}
			}
		})
	}
}

// TestStore_RefusesWorkOnceTheFileWasWrittenOver (O4): a copy written
// over the database a store has open (cp onto the same inode), of an older
// backup of it or of another database, would leave every connection
// reading the WAL's pages from the old content and the rest from the new;
// so would a copy under way (cp has written its first page), and a
// checkpoint after the copy (SQLite's own refuses, cut short) changes
// nothing. From the store's next check on (within a tenth of a second), every read,
// write and search fails with ErrReplaced, naming the file and the fix.
func TestStore_RefusesWorkOnceTheFileWasWrittenOver(t *testing.T) {
	ctx := context.Background()
	write := func(s *resonance.Store, prefix string, n int) error {
		return s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := range n {
				id := fmt.Sprintf("%s-%04d", prefix, i)
				if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Embedding: graphEmbedding(16, uint64(i+1))}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, source := range []string{"an older backup", "another database", "a copy under way", "an older backup, then a checkpoint", "another database, then a checkpoint"} {
		t.Run(source, func(t *testing.T) {
			dir := t.TempDir()
			path, copied := filepath.Join(dir, "graph.db"), filepath.Join(dir, "copied.db")
			s := openStoreAt(t, path, resonance.Options{})
			if err := write(s, "old", 100); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(source, "another database") {
				if err := s.Backup(ctx, copied, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				// Many transactions, each growing the file, so that its change
				// counter is well past the store's: only the look before a
				// checkpoint tells the copy from the checkpoint's own writes.
				other := openStoreAt(t, copied, resonance.Options{})
				for i := range 60 {
					if err := write(other, fmt.Sprintf("other%02d", i), 40); err != nil {
						t.Fatal(err)
					}
				}
				other.Close()
			}
			if err := write(s, "new", 1000); err != nil {
				t.Fatal(err)
			}
			// The file now holds everything; the WAL, what the next write
			// adds, as a running store's WAL does.
			if _, err := s.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			if err := write(s, "newer", 20); err != nil {
				t.Fatal(err)
			}
			// A check sees the file as it is now (the store checks a tenth
			// of a second after the last).
			time.Sleep(150 * time.Millisecond)
			if err := s.Read(ctx, func(context.Context, *resonance.ReadTx) error { return nil }); err != nil {
				t.Fatal(err)
			}
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(copied)
			if err != nil {
				t.Fatal(err)
			}
			if source == "a copy under way" {
				b = b[:4096] // cp has written the first page
			}
			if err := os.WriteFile(path, b, 0o644); err != nil { // cp copied.db graph.db
				t.Fatal(err)
			}
			switch source {
			case "an older backup, then a checkpoint":
				// SQLite finds the file shorter than the WAL's page count and
				// leaves this checkpoint cut short (nBackfillAttempted set).
				s.Checkpoint(ctx)
			case "another database, then a checkpoint":
				// The store's own checkpoint, within a tenth of a second of the
				// copy, before any other call looked: it looks first, and
				// writes nothing into the copy.
				_, err := s.Checkpoint(ctx)
				if !errors.Is(err, resonance.ErrReplaced) {
					t.Errorf("a checkpoint right after another database was copied over the open one: %v, want ErrReplaced", err)
				}
			}
			if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
				t.Fatalf("the copy did not keep the file's inode: %v", err)
			}
			// Until the store's next check it answers as SQLite does, from
			// both files; then it refuses.
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := s.Reads().GetNode(ctx, "old-0001")
				if errors.Is(err, resonance.ErrReplaced) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, resonance.ErrReplaced) {
					t.Errorf("%s after %s was copied over the open database: %v, want ErrReplaced", what, source, err)
					return
				}
				for _, want := range []string{path, "written over", "resonance restore", "open it again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: the error %q lacks %q", what, err, want)
					}
				}
			}
			_, err = s.Reads().GetNode(ctx, "old-0001")
			check("GetNode", err)
			_, err = s.SearchByVector(ctx, graphEmbedding(16, 1), resonance.SearchOptions{K: 5})
			check("SearchByVector", err)
			check("Tx", write(s, "after", 1))
			check("Read", s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error { return nil }))
		})
	}
}
