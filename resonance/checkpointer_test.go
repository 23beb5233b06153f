package resonance_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// walState runs a PASSIVE checkpoint on a connection of the test's own and
// returns SQLite's count of frames in the WAL and of those in the database.
func walState(t *testing.T, path string) (log, checkpointed int64) {
	t.Helper()
	db, err := resonance.Connect(context.Background(), path, resonance.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy int64
	if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &checkpointed); err != nil {
		t.Fatal(err)
	}
	return log, checkpointed
}

// A read-write store copies the WAL into the database from its own
// goroutine once 1,000 frames are waiting, well before the writer's
// wal_autocheckpoint of 4,000 pages would make a commit do it. With
// ExternalCheckpoints nothing does.
func TestCheckpointer_CopiesTheWALInTheBackground(t *testing.T) {
	for _, external := range []bool{false, true} {
		s := openStore(t, resonance.Options{ExternalCheckpoints: external})
		before := fileSizeOf(t, s.Path())
		// ~1,300 pages of nodes with their index and history: past the
		// background threshold, short of the writer's.
		fillGraph(t, s, "bg", 2400)
		if external {
			if got := fileSizeOf(t, s.Path()); got != before {
				t.Errorf("ExternalCheckpoints: the database file went from %d to %d bytes; nothing may checkpoint", before, got)
			}
			continue
		}
		deadline := time.Now().Add(20 * time.Second)
		for fileSizeOf(t, s.Path()) < before+4<<20 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := fileSizeOf(t, s.Path())
		if got < before+4<<20 {
			t.Fatalf("the database file holds %d bytes (%d before 2,400 nodes); the background checkpoint never ran", got, before)
		}
		if log, done := walState(t, s.Path()); log == 0 || log >= 4000 || done != log {
			t.Errorf("WAL after the background checkpoint: %d frames, %d in the database; want fewer than the writer's 4,000, all copied", log, done)
		}
	}
}

// Store.Checkpoint waits for a background checkpoint instead of reporting a
// busy, partial one because the two ran at once.
func TestCheckpointer_StoreCheckpointNeverOverlaps(t *testing.T) {
	s := openStore(t, resonance.Options{})
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fillGraph(t, s, fmt.Sprintf("w%d", i), 2400)
		}
	})
	// Up to 50 checkpoints, for at most 3 seconds: on a slow machine
	// (-race) each waits for a long write transaction.
	end := time.Now().Add(3 * time.Second)
	for i := 0; i < 50 && time.Now().Before(end); i++ {
		cp, err := s.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Busy {
			t.Errorf("checkpoint %d: busy (%d of %d frames) with no reader open", i, cp.Checkpointed, cp.LogFrames)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
