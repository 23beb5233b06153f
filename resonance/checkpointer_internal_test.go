package resonance

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// plan spaces the checkpoints by the frames a commit writes: after each
// checkpoint, the next one is due once the commits since then have
// written about bgCheckpointFrames frames.
func TestCheckpointer_PlanFollowsTheFramesACommitWrites(t *testing.T) {
	cases := []struct {
		name                  string
		lastLog, commits, log int64
		want                  int64
	}{
		{"the WAL started over: 6 frames a commit", 900, 100, 600, bgCheckpointFrames / 6},
		{"the WAL went on: 300 new frames in 50 commits", 500, 50, 800, bgCheckpointFrames / 6},
		{"one large commit", 0, 1, 3000, 1},
		{"nothing written", 0, 5, 0, bgCheckpointFrames},
		{"no commit counted", 0, 0, 12, bgCheckpointFrames / 12},
	}
	for _, c := range cases {
		cp := &checkpointer{lastLog: c.lastLog}
		cp.plan(c.commits, c.log)
		if got := cp.due.Load(); got != c.want {
			t.Errorf("%s: next checkpoint due after %d commits, want %d", c.name, got, c.want)
		}
		if cp.lastLog != c.log {
			t.Errorf("%s: remembered %d frames, want %d", c.name, cp.lastLog, c.log)
		}
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
	cp := &checkpointer{path: path, db: broken, look: func() error { return nil },
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

// TestStore_ClosePoolsClosesEveryPool: the pools openPools opened, each
// with a connection in use since, are closed by Close, and the background
// checkpoint's goroutine has ended.
func TestStore_ClosePoolsClosesEveryPool(t *testing.T) {
	ctx := context.Background()
	s, _ := searchedStore(t)
	if _, err := s.Reads().GetNode(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	pools := map[string]*sql.DB{"writer": s.writer, "readers": s.readers, "search": s.search, "checkpointer": s.ckptDB}
	for name, p := range pools {
		if p == nil || p.Stats().OpenConnections == 0 {
			t.Fatalf("%s pool: no connection open before Close", name)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, p := range pools {
		if err := p.PingContext(ctx); err == nil || p.Stats().OpenConnections != 0 {
			t.Errorf("%s pool after Close: ping %v, %d connections open; want it closed", name, err, p.Stats().OpenConnections)
		}
	}
	select {
	case <-s.ckpt.done:
	default:
		t.Error("the checkpoint goroutine still runs after Close")
	}
}
