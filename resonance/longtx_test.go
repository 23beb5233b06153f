package resonance_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

// slowLogs signals started when the first long-transaction report arrives,
// then takes 100 ms before it counts the report as handled; it ignores
// every other record.
type slowLogs struct {
	started chan struct{}
	once    *sync.Once
	handled *atomic.Bool
}

func (h slowLogs) Enabled(context.Context, slog.Level) bool { return true }
func (h slowLogs) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "longer than half the busy timeout") {
		return nil
	}
	h.once.Do(func() { close(h.started) })
	time.Sleep(100 * time.Millisecond)
	h.handled.Store(true)
	return nil
}
func (h slowLogs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h slowLogs) WithGroup(string) slog.Handler      { return h }

// TestW8_ReportEndsBeforeTheTransaction: a transaction whose long-running
// report (W8) has begun returns only once the report is written, so a
// caller that reads its log (a CLI's stderr buffer) right after the
// transaction never races with it.
func TestW8_ReportEndsBeforeTheTransaction(t *testing.T) {
	h := slowLogs{started: make(chan struct{}), once: new(sync.Once), handled: new(atomic.Bool)}
	s := openStore(t, resonance.Options{BusyTimeout: 100 * time.Millisecond, Logger: slog.New(h)})
	err := s.Tx(t.Context(), func(context.Context, *resonance.Tx) error {
		select {
		case <-h.started:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("no report of a transaction open past half the busy timeout")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !h.handled.Load() {
		t.Error("W8: Tx returned while its long-transaction report was still being written")
	}
}
