package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// P1's peak memory is measured two ways:
//
//   - peak RSS: the process's resident set high-water mark (VmHWM), reset
//     when P1 starts by writing 5 to /proc/self/clear_refs (Linux ≥ 4.0).
//     It counts everything: Go heap, SQLite's page caches (C memory),
//     stacks. Where the reset is refused it is getrusage's ru_maxrss, the
//     high-water mark of the whole process so far.
//   - peak Go heap: the largest heap (live and not yet swept objects) seen by
//     sampling runtime/metrics every 2ms. SQLite's memory is not in it.

const heapMetric = "/memory/classes/heap/objects:bytes"

// memory samples the Go heap while a workload runs.
type memory struct {
	stopc    chan struct{}
	wg       sync.WaitGroup
	peakHeap uint64
	resetOK  bool
}

// startMemory collects garbage, returns freed memory to the OS and resets
// the RSS high-water mark, then samples the heap until stop.
func startMemory() *memory {
	runtime.GC()
	debug.FreeOSMemory()
	m := &memory{stopc: make(chan struct{})}
	m.resetOK = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	sample := []metrics.Sample{{Name: heapMetric}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				m.peakHeap = max(m.peakHeap, sample[0].Value.Uint64())
			}
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// stop ends the sampling and returns the peak RSS and peak Go heap in MiB.
func (m *memory) stop() (rssMiB, heapMiB float64) {
	close(m.stopc)
	m.wg.Wait()
	const mib = 1 << 20
	heapMiB = float64(m.peakHeap) / mib
	if kb, ok := vmHWM(); ok && m.resetOK {
		return float64(kb) * 1024 / mib, heapMiB
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		rssMiB = float64(ru.Maxrss) * 1024 / mib // kilobytes on Linux
	}
	return rssMiB, heapMiB
}

// memoryMethod says how peak RSS is measured on this system.
func memoryMethod() string {
	if _, ok := vmHWM(); ok && os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		return "peak RSS: VmHWM reset at the start of each P1 run (/proc/self/clear_refs); peak Go heap: runtime/metrics sampled every 2ms"
	}
	return "peak RSS: getrusage ru_maxrss (process high-water mark, not reset per run); peak Go heap: runtime/metrics sampled every 2ms"
}

// vmHWM reads the peak resident set size, in kB, from /proc/self/status.
func vmHWM() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
