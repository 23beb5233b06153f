package resonance_test

import (
	"context"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// holdReader begins a read transaction on its own connection while the WAL
// holds frames that are not in the database, so that no checkpoint can
// reset the WAL until release is called.
func holdReader(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := resonance.Connect(context.Background(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM nodes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback(); db.Close() }
}

// A checkpoint with a reader open does not hold the write lock for the
// whole busy timeout: it copies what it can, waits for the reader only
// within a short bound and reports a partial checkpoint, and a write issued
// meanwhile goes through long before the busy timeout (W5).
func TestCheckpoint_ReaderDoesNotStallWriters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{BusyTimeout: 5 * time.Second})
	fillGraph(t, s, "a", 50)
	release := holdReader(t, s.Path())
	defer release()
	fillGraph(t, s, "b", 50)

	type result struct {
		cp   resonance.Checkpoint
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		cp, err := s.Checkpoint(ctx)
		done <- result{cp, err, time.Since(start)}
	}()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "w", Type: "doc", Title: "w"})
	}); err != nil {
		t.Fatal(err)
	}
	// The busy timeout is 5s; before the bound both took all of it.
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("a write beside a checkpoint waiting for a reader took %v; want well under the 5s busy timeout", took)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.took > 2500*time.Millisecond {
		t.Errorf("the checkpoint took %v with a reader open; want it to give up on the reader well before the 5s busy timeout", r.took)
	}
	if !r.cp.Busy {
		t.Errorf("checkpoint with a reader open: %+v; want it reported partial (busy)", r.cp)
	}
	if r.cp.LogFrames <= 0 || r.cp.Checkpointed < 0 || r.cp.Checkpointed > r.cp.LogFrames {
		t.Errorf("checkpoint with a reader open: %d of %d frames; want frame counts of the WAL", r.cp.Checkpointed, r.cp.LogFrames)
	}
	release()
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Busy || cp.WALBytes != 0 {
		t.Errorf("checkpoint once the reader ended: %+v; want complete with a 0-byte -wal", cp)
	}
}

// When another connection is running a checkpoint, SQLite answers busy with
// -1 for both frame counts. Store.Checkpoint says so instead of reporting
// "-1 of -1 frames" (W5).
func TestCheckpoint_AnotherCheckpointRunning(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "a", 50)
	release := holdReader(t, s.Path())
	defer release()
	fillGraph(t, s, "b", 50)

	// Another process's checkpoint: it holds SQLite's checkpoint lock while
	// it waits up to 3s for the reader.
	other, err := resonance.Connect(ctx, s.Path(), resonance.Options{BusyTimeout: 3 * time.Second, ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherDone := make(chan error, 1)
	go func() {
		var busy, log, done int64
		otherDone <- other.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
	}()
	time.Sleep(300 * time.Millisecond)

	cp, err := s.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Busy || !cp.OtherCheckpoint {
		t.Errorf("checkpoint while another connection checkpoints: %+v; want busy, with OtherCheckpoint set", cp)
	}
	if cp.LogFrames < 0 || cp.Checkpointed < 0 {
		t.Errorf("checkpoint while another connection checkpoints: %d of %d frames; SQLite's -1 must not reach the caller", cp.Checkpointed, cp.LogFrames)
	}
	release()
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
}
