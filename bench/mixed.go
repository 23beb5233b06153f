package bench

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// mixedResult is what P5 measured.
type mixedResult struct {
	readsPerSec, writesPerSec float64
	p50Idle, p99Idle          float64 // µs, readers alone
	p50Load, p99Load          float64 // µs, beside the writer
	busy                      int64   // busy errors, reads and writes, both phases
}

// runMixed is P5 on the database P1 filled: first the readers alone for
// cfg.MixedIdle (the idle latency), then the readers beside one writer that
// upserts existing nodes, one transaction each, for cfg.Mixed.
func runMixed(outer context.Context, cfg Config, d *data, w workloads) (mixedResult, error) {
	var res mixedResult
	idle, err := mixedPhase(outer, cfg.MixedIdle, cfg.Readers, d, w, false)
	if err != nil {
		return res, err
	}
	load, err := mixedPhase(outer, cfg.Mixed, cfg.Readers, d, w, true)
	if err != nil {
		return res, err
	}
	res.p50Idle, res.p99Idle = percentileUS(idle.lat, 0.50), percentileUS(idle.lat, 0.99)
	res.p50Load, res.p99Load = percentileUS(load.lat, 0.50), percentileUS(load.lat, 0.99)
	res.readsPerSec = float64(len(load.lat)) / load.elapsed.Seconds()
	res.writesPerSec = float64(load.writes) / load.elapsed.Seconds()
	res.busy = idle.busy + load.busy
	return res, nil
}

type phaseResult struct {
	lat     []time.Duration // every successful read's latency
	writes  int64
	busy    int64
	elapsed time.Duration
}

func mixedPhase(outer context.Context, dur time.Duration, readers int, d *data, w workloads, writer bool) (phaseResult, error) {
	var (
		res   phaseResult
		stop  atomic.Bool
		busy  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	lats := make([][]time.Duration, readers)
	start := time.Now()
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := xorshift(0x2545f4914f6cdd1d + uint64(r)*0x9e3779b97f4a7c15)
			lat := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				i := int(rng.next() % uint64(d.n))
				t := time.Now()
				err := w.read(i)
				el := time.Since(t)
				switch {
				case errors.Is(err, errBusy):
					busy.Add(1)
				case err != nil:
					fail(err)
				default:
					lat = append(lat, el)
				}
			}
			lats[r] = lat
		}()
	}
	if writer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := xorshift(0x5851f42d4c957f2d)
			for !stop.Load() {
				err := w.upsertOne(int(rng.next() % uint64(d.n)))
				switch {
				case err != nil && isBusyErr(err):
					busy.Add(1)
				case err != nil:
					fail(err)
				default:
					res.writes++
				}
			}
		}()
	}
	timer := time.NewTimer(dur)
	select {
	case <-timer.C:
	case <-outer.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
	res.elapsed = time.Since(start)
	if first != nil {
		return res, first
	}
	if err := outer.Err(); err != nil {
		return res, err
	}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	res.busy = busy.Load()
	return res, nil
}

// isBusyErr reports a busy error from either side's write path.
func isBusyErr(err error) bool {
	return errors.Is(err, errBusy) || isBusy(err) || errors.Is(err, errLibBusy)
}

// percentileUS returns the p-th percentile of lat in microseconds.
func percentileUS(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := min(int(float64(len(s))*p), len(s)-1)
	return float64(s[i]) / float64(time.Microsecond)
}
