package replication_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestR2_FollowerRefusesWrites: a copy kept current by `litestream restore
// -f` (follow mode) while the primary is written: a read-write open of it
// is refused with ErrReadOnly naming the follower, so nothing diverges
// from the primary or breaks the file; a read-only open reads it.
func TestR2_FollowerRefusesWrites(t *testing.T) {
	s := newSetup(t, true)
	s.startLitestream()
	s.startWriter()
	s.waitLog("snapshot complete")
	follow := filepath.Join(s.dir, "follow.db")
	f := exec.Command(s.bin, "restore", "-config", s.cfg, "-f", "-follow-interval", "100ms", "-o", follow, s.db)
	var out strings.Builder
	f.Stdout, f.Stderr = &out, &out
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		f.Process.Signal(syscall.SIGINT)
		f.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(follow + "-txid"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("litestream restore -f wrote no %s-txid:\n%s", follow, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	for try := range 2 {
		w, err := resonance.Open(ctx, follow, resonance.Options{ExternalCheckpoints: true})
		if err == nil {
			w.Close()
		}
		if !errors.Is(err, resonance.ErrReadOnly) || !strings.Contains(err.Error(), "Litestream follower") {
			t.Errorf("R1: a read-write open of a follower (try %d) = %v; want ErrReadOnly naming the follower", try, err)
		}
		time.Sleep(300 * time.Millisecond) // a few follow intervals
	}
	st, err := resonance.Open(ctx, follow, resonance.Options{ReadOnly: true, ExternalCheckpoints: true})
	if err != nil {
		t.Fatalf("R1: a read-only open of a follower: %v", err)
	}
	if _, err := st.Stats(ctx); err != nil {
		t.Errorf("R1: stats of a follower: %v", err)
	}
	st.Close()
	s.stopWriter(false)
	s.stopLitestream(syscall.SIGTERM)
}
