package resonance_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestW8_LongReadSaysWhatItHoldsUp: a long read transaction holds up no
// writer, only checkpoints; its warning says that, and a long write
// transaction's says other writers may time out.
func TestW8_LongReadSaysWhatItHoldsUp(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	s := openStore(t, resonance.Options{BusyTimeout: 100 * time.Millisecond, Logger: slog.New(captureLogs{&mu, &msgs})})
	long := func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if strings.Contains(m, "longer than half the busy timeout") {
				msgs = nil
				return m
			}
		}
		return ""
	}
	if err := s.Read(t.Context(), func(context.Context, *resonance.ReadTx) error { time.Sleep(120 * time.Millisecond); return nil }); err != nil {
		t.Fatal(err)
	}
	if m := long(); m == "" || strings.Contains(m, "writers") || !strings.Contains(m, "checkpoint") {
		t.Errorf("W8: a long read transaction is reported as %q; want what it holds up (checkpoints), not writers", m)
	}
	if err := s.Tx(t.Context(), func(context.Context, *resonance.Tx) error { time.Sleep(120 * time.Millisecond); return nil }); err != nil {
		t.Fatal(err)
	}
	if m := long(); !strings.Contains(m, "other writers may time out") {
		t.Errorf("W8: a long write transaction is reported as %q; want that other writers may time out", m)
	}
}
