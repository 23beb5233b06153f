package resonance

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The checkpointer's count of waiting frames, read from the WAL index in
// the -shm file, is SQLite's own: the frames a checkpoint then copies.
func TestCheckpointer_PendingMatchesSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := Open(ctx, path, Options{Create: true, ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp := &checkpointer{path: s.Path(), mu: new(sync.Mutex)}
	defer func() {
		if cp.shm != nil {
			cp.shm.Close()
		}
	}()
	last := cp.pending()
	for round := range 3 {
		err := s.Tx(ctx, func(ctx context.Context, tx *Tx) error {
			for i := range 200 {
				n := Node{ID: fmt.Sprintf("n-%d-%d", round, i), Type: "doc", Embedding: make([]float32, 384)}
				if err := tx.UpsertNode(ctx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p := cp.pending()
		if p <= last {
			t.Fatalf("round %d: %d frames pending after a write, %d before", round, p, last)
		}
		last = p
	}
	var busy, log, done int64
	if err := s.DB().QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || log != last || done != last {
		t.Errorf("checkpoint: busy %d, %d frames, %d copied; the WAL index said %d were waiting", busy, log, done, last)
	}
	if p := cp.pending(); p != 0 {
		t.Errorf("%d frames pending after a complete checkpoint, want 0", p)
	}
}

// A background checkpoint that fails is logged once, not at every commit,
// and so is its recovery.
func TestCheckpointer_FailureLoggedOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(ctx, path, Options{Create: true, ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logs bytes.Buffer
	broken, err := Connect(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	broken.Close() // every statement on it fails
	cp := &checkpointer{path: path, db: broken, mu: new(sync.Mutex),
		log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for range 3 {
		cp.checkpoint()
	}
	if n := strings.Count(logs.String(), "background checkpoint failed"); n != 1 {
		t.Errorf("3 failed checkpoints logged %d times, want once:\n%s", n, logs.String())
	}
	if cp.db, err = Connect(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer cp.db.Close()
	cp.checkpoint()
	cp.checkpoint()
	if n := strings.Count(logs.String(), "works again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logs.String())
	}
}
