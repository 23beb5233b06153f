package resonance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/internal/inuse"
)

// watchWhile runs every step of work in turn, over and over, for about
// d, while it checks the watch of s as fast as it can, and fails on any
// refusal: the writes and checkpoints of SQLite are no foreign writes. It
// returns how many checks looked at the file in place.
func watchWhile(t *testing.T, s *Store, d time.Duration, work ...func(i int) error) int {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := work[i%len(work)](i); err != nil {
				t.Errorf("work step %d: %v", i%len(work), err)
				return
			}
		}
	})
	looks := 0
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := s.file.verify(s.path); err != nil {
			t.Errorf("after %d checks: %v", looks, err)
			break
		}
		s.file.mu.Lock()
		if s.file.disk != nil {
			looks++
		}
		s.file.mu.Unlock()
	}
	close(stop)
	wg.Wait()
	if looks == 0 {
		t.Errorf("no check looked at the file in place")
	}
	return looks
}

func upsertN(s *Store, prefix string, i, n int) error {
	return s.Tx(context.Background(), func(ctx context.Context, tx *Tx) error {
		for j := range n {
			emb := make([]float32, 32)
			emb[j%32] = float32(i + 1)
			if err := tx.UpsertNode(ctx, Node{ID: fmt.Sprintf("%s-%d-%d", prefix, i%50, j), Type: "doc", Embedding: emb}); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestFileWatch_SQLiteWritesAreNoAlarm: the store's own writes and
// checkpoints, another store's (another connection to the same file, with
// a checkpointer of its own: what another process does) in every
// checkpoint mode, VACUUM, deletes that shrink the file, a read-only store
// and a store whose checkpoints are external all change the file in place,
// and none is taken for a copy written over it.
func TestFileWatch_SQLiteWritesAreNoAlarm(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, path string, o Options) *Store {
		t.Helper()
		s, err := Open(ctx, path, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	checkpoint := func(s *Store, mode string) func(int) error {
		return func(int) error {
			_, err := s.DB().ExecContext(ctx, "PRAGMA wal_checkpoint("+mode+")")
			if errors.Is(classify(err), ErrBusy) {
				return nil
			}
			return err
		}
	}
	t.Run("own writes, checkpoints and vacuum", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "graph.db"), Options{Create: true})
		watchWhile(t, s, time.Second,
			func(i int) error { return upsertN(s, "a", i, 40) },
			func(int) error { _, err := s.Checkpoint(ctx); return err },
			func(i int) error { return upsertN(s, "b", i, 200) },
			func(int) error {
				_, err := s.DB().ExecContext(ctx, "DELETE FROM nodes WHERE id LIKE 'b-%'")
				return err
			},
			func(i int) error {
				if i%3 != 0 {
					return nil
				}
				return s.Vacuum(ctx)
			},
		)
	})
	t.Run("another store writes and checkpoints", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "graph.db")
		s := open(t, path, Options{Create: true})
		other := open(t, path, Options{})
		watchWhile(t, s, time.Second,
			func(i int) error { return upsertN(other, "o", i, 100) },
			checkpoint(other, "PASSIVE"),
			func(i int) error { return upsertN(other, "p", i, 10) },
			checkpoint(other, "RESTART"),
			func(i int) error { return upsertN(s, "s", i, 30) },
			checkpoint(other, "TRUNCATE"),
			func(int) error {
				_, err := other.DB().ExecContext(ctx, "DELETE FROM nodes WHERE id LIKE 'o-%'")
				return err
			},
		)
	})
	t.Run("another process writes and checkpoints", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "graph.db")
		s := open(t, path, Options{Create: true})
		// The child is TestBackupHelperProcess: one upsert a transaction,
		// with its store's background checkpoints, until path.stop
		// appears; its own store would fail it on a false alarm too.
		child := exec.Command(os.Args[0], "-test.run=^TestBackupHelperProcess$", "-test.count=1")
		child.Env = append(os.Environ(), "RESONANCE_TEST_BACKUP_WRITER="+path)
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		child.Stderr = child.Stdout
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		output := make(chan []byte)
		go func() { b, _ := io.ReadAll(out); output <- b }()
		watchWhile(t, s, 2*time.Second,
			func(i int) error { return upsertN(s, "s", i, 20) },
			func(int) error { time.Sleep(20 * time.Millisecond); return nil },
			func(int) error { _, err := s.Checkpoint(ctx); return err },
		)
		if err := os.WriteFile(path+".stop", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b := <-output
		if err := child.Wait(); err != nil {
			t.Errorf("the writing child failed: %v\n%s", err, b)
		}
		var n int
		if err := s.readers.QueryRowContext(ctx, "SELECT count(*) FROM nodes WHERE id LIKE 'child-%'").Scan(&n); err != nil || n == 0 {
			t.Errorf("the child wrote %d nodes (%v); want some", n, err)
		}
	})
	t.Run("read-only store", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "graph.db")
		w := open(t, path, Options{Create: true})
		ro := open(t, path, Options{ReadOnly: true})
		watchWhile(t, ro, time.Second,
			func(i int) error { return upsertN(w, "w", i, 100) },
			func(int) error { _, err := w.Checkpoint(ctx); return err },
			func(int) error { _, err := ro.Stats(ctx); return err },
		)
	})
	t.Run("external checkpoints", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "graph.db")
		s := open(t, path, Options{Create: true, ExternalCheckpoints: true})
		replicator := open(t, path, Options{ExternalCheckpoints: true})
		watchWhile(t, s, time.Second,
			func(i int) error { return upsertN(s, "e", i, 100) },
			checkpoint(replicator, "PASSIVE"),
			func(i int) error { return upsertN(s, "f", i, 10) },
			checkpoint(replicator, "TRUNCATE"),
		)
	})
}

// TestFileWatch_CloseKeepsTheLocksOfOtherConnections: closing a
// descriptor drops every lock the process holds on the file, SQLite's
// included. A store closed while another store of this process has the
// same database open leaves that store's locks in place; the descriptors
// are closed once no connection of the process locks the files.
func TestFileWatch_CloseKeepsTheLocksOfOtherConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	first, err := Open(ctx, path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := upsertN(second, "x", 0, 10); err != nil {
		t.Fatal(err)
	}
	if first.file.shm == nil || second.file.shm == nil {
		t.Fatal("the store does not watch its file in place")
	}
	watched := []*os.File{first.file.shm, first.file.disk, second.file.shm, second.file.disk}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if held, err := inuse.HeldHere(first.file.shm); err != nil || !held {
		t.Fatalf("after another store closed, this process holds no lock on -shm (%v): the close dropped the open store's locks", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range watched {
		if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s still open after every store closed (Stat: %v)", f.Name(), err)
		}
	}
}

// BenchmarkFileWatch_Verify measures one check of the store's file: its
// identity alone (a stat), and with the look at the bytes in place that
// finds writes over the file (a read of -shm, a read and an fstat of the
// database, when they are as they were).
func BenchmarkFileWatch_Verify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "graph.db")
	s, err := Open(context.Background(), path, Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := upsertN(s, "n", 0, 100); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		inPlace bool
	}{{"identity", false}, {"identity_and_bytes", true}} {
		b.Run(c.name, func(b *testing.B) {
			s.file.mu.Lock()
			s.file.stopped = !c.inPlace
			s.file.mu.Unlock()
			for b.Loop() {
				if err := s.file.verify(s.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	s.file.mu.Lock()
	s.file.stopped = false
	s.file.mu.Unlock()
}
