package resonance

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestGoid(t *testing.T) {
	me := goid()
	if me == 0 || me != goid() {
		t.Fatalf("goid() = %d then %d, want the same non-zero value", me, goid())
	}
	const n = 8
	ids := make([]int64, n)
	var start, done sync.WaitGroup
	start.Add(n)
	done.Add(n)
	for i := range ids {
		go func() {
			defer done.Done()
			ids[i] = goid()
			start.Done()
			start.Wait() // all alive at once: no descriptor is reused
		}()
	}
	done.Wait()
	seen := map[int64]bool{me: true}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("goroutine %d has goid %d, already seen", i, id)
		}
		seen[id] = true
	}
}

// An ExplicitTx handed on by a goroutine that then exits does not make a
// later goroutine, which the runtime may give the same descriptor, look
// nested: its Tx waits for the writer instead of failing.
func TestStore_ExplicitTxHandedOn(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "h.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan *ExplicitTx)
	go func() {
		etx, err := s.Begin(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- etx
	}()
	etx := <-got
	time.Sleep(10 * time.Millisecond) // let the goroutine exit
	errc := make(chan error, 1)
	go func() { errc <- s.Tx(ctx, func(*Tx) error { return nil }) }()
	select {
	case err := <-errc:
		t.Fatalf("Tx returned %v while another goroutine's ExplicitTx was open, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := etx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Tx after the ExplicitTx committed: %v", err)
	}
	// The goroutine that holds an ExplicitTx is still refused.
	etx, err = s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer etx.Rollback()
	if err := s.Tx(ctx, func(*Tx) error { return nil }); !errors.Is(err, ErrNestedTx) {
		t.Fatalf("Tx inside this goroutine's ExplicitTx: %v, want ErrNestedTx", err)
	}
}
