// Package bench runs the performance workloads of section P of RULES.md
// against the resonance library and, in the same process, against a
// baseline: plain database/sql and go-sqlite3 with prepared statements,
// running the same statements on the same schema and writing the same rows.
//
// Workloads, each measured on a fresh database in every repetition:
//
//	P1     bulk ingest: nodes with a 384-float embedding, meta JSON and a history
//	       row, 3 edges per node each with its history row, 1,000 nodes per
//	       transaction, then a TRUNCATE checkpoint (nodes/s); the library
//	       writes each transaction's nodes with Tx.UpsertNodes and their
//	       edges with Tx.InsertEdges, the baseline one prepared statement per row
//	P2     autocommit: node upserts, one transaction each (upserts/s)
//	P3a    metadata scan of every node without its embedding (ms per scan)
//	P3b    get node by id, for every id (µs/op)
//	P3c    outgoing edges of every node (µs/op)
//	P3d    the same edges read 100 nodes per call, the set-based read for
//	       callers that would loop over P3c (µs per node)
//	P4     per-request connection: open, harden, one count query, close, while
//	       another connection keeps the database open (µs/op)
//	P4pool the same query through a long-lived pool (µs/op)
//	P5     mixed load: one writer upserting in short transactions, readers doing
//	       P3b lookups (reads/s, with writes/s, read latency percentiles idle
//	       and under load, and busy errors, which must be 0)
//	P6     vector search: top-10 queries over every node's embedding
//	       (queries/s, with the memory the library keeps for them; see
//	       search.go)
//	P9a–d  neighbourhoods, depth 2 and 3 both ways, from every node of the
//	       example graph and from P1's biggest hub: one recursive statement
//	       against a naive walk with a query per node (µs per walk, with
//	       the nodes per walk; see neighbourhood.go)
//
// The reads and P4 also run from C (floor.go): the baseline's statements
// and settings through the SQLite go-sqlite3 bundles, without database/sql
// and without a crossing from Go to C per row; the reads on a copy of the
// baseline's P1 database, P4 on the baseline's P4 database. That C floor
// is reported beside the baseline's figure (c_floor, and c_floor_ratio to
// the baseline).
//
// Every figure is the median of Config.Reps repetitions; the library and the
// baseline alternate which goes first. The reads (P3a–P3d) and P4 rotate
// between the two sides and the C floor in small chunks, so all see the
// same load when other work shares the machine. Statements run with a
// context that is never cancelled (go-sqlite3 starts a goroutine per
// statement for one that can be); Run's own context stops the run between
// steps.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Config sizes a run. Zero fields take the full-size defaults, or the
// --quick ones when Quick is set.
type Config struct {
	// Dir is where the fresh databases are created (each is removed after
	// use). Empty means a temporary directory, removed afterwards.
	Dir string
	// Quick shrinks every workload so the whole run takes well under a
	// minute.
	Quick bool
	// Reps is how many times each workload runs on each side; the figure
	// is the median. Default 3.
	Reps int

	Nodes        int           // P1 nodes: 20,000 (quick 2,000)
	Batch        int           // P1 nodes per transaction: 1,000
	EdgesPerNode int           // P1 edges per node: 3
	Upserts      int           // P2 upserts: 2,000 (quick 500)
	Scans        int           // P3a scans: 20 (quick 5)
	Connects     int           // P4 connections: 1,000 (quick 200)
	PoolQueries  int           // P4pool queries: 20,000 (quick 5,000)
	Mixed        time.Duration // P5 duration under load: 10s (quick 2s)
	MixedIdle    time.Duration // P5 idle phase (readers only): a quarter of Mixed
	Readers      int           // P5 readers: 4
	Queries      int           // P6 queries: 200 (quick 50)
	// Scale adds P7 and P8 (scale.go), run once after the repetitions.
	Scale      bool
	ScaleNodes int // P7 nodes: 1,000,000
	LiveNodes  int // P8 nodes: 100,000
	// SqliteVec is the binary of bench/sqlitevec, P7's sqlite-vec side;
	// empty leaves it out.
	SqliteVec string
	// Example is the example graph as JSON Lines (`resonance import`'s
	// format), whose neighbourhoods P9a and P9b walk.
	Example []byte

	// Progress, when set, is called with a short description of each step.
	Progress func(step string)
}

func (c Config) withDefaults() Config {
	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	def(&c.Reps, 3, 3)
	def(&c.Nodes, 20000, 2000)
	def(&c.Batch, 1000, 1000)
	def(&c.EdgesPerNode, 3, 3)
	def(&c.Upserts, 2000, 500)
	def(&c.Scans, 20, 5)
	def(&c.Connects, 1000, 200)
	def(&c.PoolQueries, 20000, 5000)
	def(&c.Readers, 4, 4)
	def(&c.Queries, 200, 50)
	def(&c.ScaleNodes, 1000000, 1000000)
	def(&c.LiveNodes, 100000, 100000)
	if c.Mixed <= 0 {
		c.Mixed = 10 * time.Second
		if c.Quick {
			c.Mixed = 2 * time.Second
		}
	}
	if c.MixedIdle <= 0 {
		c.MixedIdle = max(c.Mixed/4, 100*time.Millisecond)
	}
	return c
}

// Workload is one line of the report. Ratio is Resonance ÷ Baseline: above
// 1 is better when HigherIsBetter (a rate), below 1 otherwise (a time).
type Workload struct {
	Name string
	// OldName is the name the workload had before the rename to P1–P9
	// (W1–W6, which collided with the W rules), empty for new workloads.
	// The report carries it for one release.
	OldName        string
	Unit           string
	Resonance      float64
	Baseline       float64
	Ratio          float64
	HigherIsBetter bool
	// Target is the target for Resonance; HasTarget says whether
	// there is one. TargetMet is whether the median meets it (for P5: no
	// busy error on either side).
	Target    float64
	HasTarget bool
	TargetMet bool
	// Runs and BaselineRuns are the figure of each repetition.
	Runs, BaselineRuns []float64
	// Extra carries the workload's other figures, in order (P1 memory and
	// file size, P5 writes, latencies and busy errors).
	Extra []Extra
}

// Extra is a named figure of a workload.
type Extra struct {
	Key   string
	Value float64
}

// Get returns the extra figure named key, and whether there is one.
func (w Workload) Get(key string) (float64, bool) {
	for _, e := range w.Extra {
		if e.Key == key {
			return e.Value, true
		}
	}
	return 0, false
}

// MarshalJSON writes the workload as one flat object: name, unit,
// resonance, baseline, ratio, then the rest, then the extras.
func (w Workload) MarshalJSON() ([]byte, error) {
	b := []byte(`{"name":`)
	b = strconv.AppendQuote(b, w.Name)
	if w.OldName != "" {
		b = append(b, `,"old_name":`...)
		b = strconv.AppendQuote(b, w.OldName)
	}
	b = append(b, `,"unit":`...)
	b = strconv.AppendQuote(b, w.Unit)
	num := func(key string, v float64) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = appendNumber(b, v)
	}
	num("resonance", w.Resonance)
	num("baseline", w.Baseline)
	num("ratio", w.Ratio)
	b = append(b, `,"higher_is_better":`...)
	b = strconv.AppendBool(b, w.HigherIsBetter)
	if w.HasTarget {
		num("target", w.Target)
	}
	b = append(b, `,"target_met":`...)
	b = strconv.AppendBool(b, w.TargetMet)
	for _, e := range w.Extra {
		num(e.Key, e.Value)
	}
	runs := func(key string, rs []float64) {
		b = append(b, `,"`...)
		b = append(b, key...)
		b = append(b, `":[`...)
		for i, r := range rs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNumber(b, r)
		}
		b = append(b, ']')
	}
	runs("resonance_runs", w.Runs)
	runs("baseline_runs", w.BaselineRuns)
	return append(b, '}'), nil
}

// appendNumber writes v with at most 4 decimals, and non-finite values
// (which JSON cannot hold) as 0.
func appendNumber(b []byte, v float64) []byte {
	if v != v || v > 1e300 || v < -1e300 {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, roundTo(v, 4), 'f', -1, 64)
}

func roundTo(v float64, decimals int) float64 {
	p := 1.0
	for range decimals {
		p *= 10
	}
	if v >= 0 {
		return float64(int64(v*p+0.5)) / p
	}
	return -float64(int64(-v*p+0.5)) / p
}

// Report is the result of Run.
type Report struct {
	Workloads []Workload `json:"workloads"`
	// Env describes the run; it is not part of the JSON report.
	Env Env `json:"-"`
}

// Env describes where and how the run happened.
type Env struct {
	GoVersion     string
	GOMAXPROCS    int
	NumCPU        int
	SQLiteVersion string
	Quick         bool
	Reps          int
	Nodes         int
	Duration      time.Duration
	// MemoryMethod says how P1's peak memory was measured.
	MemoryMethod string
}

// JSON returns the report as {"workloads":[…]}.
func (r *Report) JSON() ([]byte, error) { return json.Marshal(r) }

// Workload returns the workload named name, and whether the report has it.
func (r *Report) Workload(name string) (Workload, bool) {
	for _, w := range r.Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// oldName is the name workload name had before the rename: P1–P6 were
// W1–W6 (P3a was W3a, P4pool W4pool); the others are new.
func oldName(name string) string {
	if len(name) >= 2 && name[0] == 'P' && name[1] >= '1' && name[1] <= '6' {
		return "W" + name[1:]
	}
	return ""
}

// Names lists the workloads in report order.
var Names = []string{"P1", "P2", "P3a", "P3b", "P3c", "P3d", "P4", "P4pool", "P5", "P6", "P9a", "P9b", "P9c", "P9d"}

// side is one of the two implementations measured, or the C floor beside
// them (floor.go), measured on the reads and P4 and reported with the
// baseline's figures.
type side int

const (
	lib side = iota
	base
	cfloor
)

func (s side) String() string {
	switch s {
	case lib:
		return "resonance"
	case base:
		return "baseline"
	}
	return "c"
}

// sample is what one repetition of one side measured, by figure name.
type sample map[string]float64

// Run runs every workload cfg.Reps times on each side and returns the
// medians.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "resonance-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: --db-dir: %w", err)
	}
	r := &runner{cfg: cfg, dir: dir, data: newData(cfg.Nodes, cfg.EdgesPerNode)}
	samples := [2][]sample{}
	for rep := range cfg.Reps {
		order := []side{lib, base}
		if rep%2 == 1 {
			order = []side{base, lib}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := r.repetition(ctx, rep, order)
		if err != nil {
			return nil, fmt.Errorf("bench: repetition %d: %w", rep+1, err)
		}
		samples[lib] = append(samples[lib], s[lib])
		samples[base] = append(samples[base], s[base])
	}
	var scaled [2]sample
	if cfg.Scale {
		scaled = [2]sample{lib: {}, base: {}}
		if err := r.scale(scaled); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	rep := &Report{Env: Env{
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		SQLiteVersion: sqliteVersion(), Quick: cfg.Quick, Reps: cfg.Reps, Nodes: cfg.Nodes,
		Duration: time.Since(start), MemoryMethod: memoryMethod(),
	}}
	for _, spec := range specs {
		rep.Workloads = append(rep.Workloads, spec.summarize(samples[lib], samples[base]))
	}
	if cfg.Scale {
		for _, spec := range scaleSpecs {
			rep.Workloads = append(rep.Workloads, spec.summarize([]sample{scaled[lib]}, []sample{scaled[base]}))
		}
	}
	return rep, nil
}

// runner holds what every repetition shares.
type runner struct {
	cfg       Config
	dir       string
	data      *data
	seq       int
	queries   [][]float32 // P6's
	searchIDs [][]string  // what P6's first run found, per query
}

func (r *runner) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(fmt.Sprintf(format, args...))
	}
}

// freshPath returns the path of a database that does not exist yet.
func (r *runner) freshPath(name string, sd side) string {
	r.seq++
	return filepath.Join(r.dir, fmt.Sprintf("%s-%03d-%s.db", name, r.seq, sd))
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
	os.RemoveAll(filepath.Join(filepath.Dir(path), "backups"))
}

// repetition runs every workload once on each side, each on a fresh
// database (P3 and P5 on the database P1 filled), order[0] first. The
// reads (P3a–P3d) and P4 alternate between the sides in small chunks, so
// both see the same load on a shared machine; P1, P2 and P5 run one side
// after the other.
func (r *runner) repetition(ctx context.Context, rep int, order []side) ([2]sample, error) {
	s := [2]sample{lib: {}, base: {}}
	ws := [2]workloads{lib: &libWorkloads{r: r}, base: &baseWorkloads{r: r}}
	var paths [2]string
	for _, sd := range order {
		path := r.freshPath("w1", sd)
		paths[sd] = path
		defer removeDB(path)
		defer ws[sd].close()
		if err := r.ingest(ctx, rep, sd, ws[sd], path, s[sd]); err != nil {
			return s, fmt.Errorf("%s: P1: %w", sd, err)
		}
		if err := ctx.Err(); err != nil {
			return s, err
		}
	}
	if err := r.reads(ctx, rep, order, ws, paths[base], s); err != nil {
		return s, err
	}
	if err := r.neighbourhoods(rep, order, ws[lib].(*libWorkloads).s, paths[base], s); err != nil {
		return s, fmt.Errorf("P9: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}

	for _, sd := range order {
		r.progress("rep %d/%d %s: P6 vector search ×%d", rep+1, r.cfg.Reps, sd, r.cfg.Queries)
		err := labeled("P6", sd, func() (err error) {
			s[sd]["P6"], s[sd]["kept_mib"], err = r.vectorSearch(ws[sd])
			return err
		})
		if err != nil {
			return s, fmt.Errorf("%s: P6: %w", sd, err)
		}
		s[sd]["embeddings_mib"] = float64(r.cfg.Nodes*Dim*4) / (1 << 20)
		if err := ctx.Err(); err != nil {
			return s, err
		}
	}

	for _, sd := range order {
		r.progress("rep %d/%d %s: P5 mixed load %v", rep+1, r.cfg.Reps, sd, r.cfg.Mixed)
		var m mixedResult
		err := labeled("P5", sd, func() (err error) {
			m, err = runMixed(ctx, r.cfg, r.data, ws[sd])
			return err
		})
		if err != nil {
			return s, fmt.Errorf("%s: P5: %w", sd, err)
		}
		s[sd]["P5"] = m.readsPerSec
		s[sd]["writes_per_s"] = m.writesPerSec
		s[sd]["p50_load_us"] = m.p50Load
		s[sd]["p99_load_us"] = m.p99Load
		s[sd]["p99_idle_us"] = m.p99Idle
		s[sd]["p50_idle_us"] = m.p50Idle
		s[sd]["busy_errors"] = float64(m.busy)
		if err := ws[sd].close(); err != nil {
			return s, fmt.Errorf("%s: close: %w", sd, err)
		}
		if err := ctx.Err(); err != nil {
			return s, err
		}
	}

	for _, sd := range order {
		r.progress("rep %d/%d %s: P2 autocommit ×%d", rep+1, r.cfg.Reps, sd, r.cfg.Upserts)
		err := labeled("P2", sd, func() (err error) {
			s[sd]["P2"], err = r.autocommit(sd)
			return err
		})
		if err != nil {
			return s, fmt.Errorf("%s: P2: %w", sd, err)
		}
		if err := ctx.Err(); err != nil {
			return s, err
		}
	}

	r.progress("rep %d/%d: P4 connections ×%d", rep+1, r.cfg.Reps, r.cfg.Connects)
	if err := r.connections(ctx, order, s); err != nil {
		return s, fmt.Errorf("P4: %w", err)
	}
	return s, nil
}

// ingest is P1 on side sd: it opens w on a fresh database at path, fills
// it and checks what it holds.
func (r *runner) ingest(ctx context.Context, rep int, sd side, w workloads, path string, s sample) error {
	r.progress("rep %d/%d %s: P1 ingest %d nodes", rep+1, r.cfg.Reps, sd, r.cfg.Nodes)
	if err := w.open(path); err != nil {
		return err
	}
	mem := startMemory()
	t0 := time.Now()
	// P1 ends with a TRUNCATE checkpoint, timed: the two sides checkpoint
	// at different WAL sizes (the library at 4,000 pages, the baseline at
	// SQLite's 1,000), and the side that checkpoints later would otherwise
	// leave more of its copying out of the figure.
	var size float64
	err := labeled("P1", sd, func() error {
		if err := w.ingest(); err != nil {
			return err
		}
		var err error
		if size, err = w.checkpointSize(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	el := time.Since(t0)
	peakRSS, peakHeap := mem.stop()
	s["P1"] = float64(r.cfg.Nodes) / el.Seconds()
	s["peak_rss_mib"] = peakRSS
	s["peak_heap_mib"] = peakHeap
	s["db_mib"] = size
	return w.verify()
}

// readChunk is how many reads of P3b–P3d run on one side (or the C floor)
// before the next one's turn.
const readChunk = 500

// reads runs P3a–P3d on both sides' P1 databases, and the C floor on a
// copy of the baseline's, alternating between them every scan (P3a) or
// every readChunk nodes. The copy keeps the floor from warming the
// baseline's pages in the machine's caches.
func (r *runner) reads(ctx context.Context, rep int, order []side, ws [2]workloads, basePath string, s [2]sample) error {
	floorPath := r.freshPath("w1", cfloor)
	defer removeDB(floorPath)
	if err := copyDB(basePath, floorPath); err != nil {
		return fmt.Errorf("C floor: %w", err)
	}
	floor, err := openFloor(r, floorPath)
	if err != nil {
		return err
	}
	defer floor.close()
	rs := [3]reader{lib: ws[lib], base: ws[base], cfloor: floor}
	withFloor := append(slices.Clone(order), cfloor)
	n := r.cfg.Nodes
	chunks := (n + readChunk - 1) / readChunk
	chunk := func(k int) []int { return r.data.perm[k*readChunk : min((k+1)*readChunk, n)] }
	ids := make([]string, n)
	for k, i := range r.data.perm {
		ids[k] = r.data.ids[i]
	}
	steps := []struct {
		name, what string
		chunks     int
		per        func(el time.Duration) float64
		run        func(w reader, k int) (int, error) // returns the edges read
	}{
		{"P3a", fmt.Sprintf("scan ×%d", r.cfg.Scans), r.cfg.Scans,
			func(el time.Duration) float64 { return msPer(el, r.cfg.Scans) },
			func(w reader, _ int) (int, error) {
				got, err := w.scan()
				if err == nil && got != n {
					err = fmt.Errorf("scan returned %d nodes, want %d", got, n)
				}
				return 0, err
			}},
		{"P3b", fmt.Sprintf("get node ×%d", n), chunks,
			func(el time.Duration) float64 { return usPer(el, n) },
			func(w reader, k int) (int, error) {
				for _, i := range chunk(k) {
					if err := w.get(i); err != nil {
						return 0, err
					}
				}
				return 0, nil
			}},
		{"P3c", fmt.Sprintf("outgoing edges ×%d", n), chunks,
			func(el time.Duration) float64 { return usPer(el, n) },
			func(w reader, k int) (int, error) {
				edges := 0
				for _, i := range chunk(k) {
					got, err := w.outgoing(i)
					if err != nil {
						return 0, err
					}
					edges += got
				}
				return edges, nil
			}},
		{"P3d", fmt.Sprintf("outgoing edges ×%d, %d per call", n, edgesPerCall), chunks,
			func(el time.Duration) float64 { return usPer(el, n) },
			func(w reader, k int) (int, error) {
				edges := 0
				part := ids[k*readChunk : min((k+1)*readChunk, n)]
				for lo := 0; lo < len(part); lo += edgesPerCall {
					got, err := w.outgoingOf(part[lo:min(lo+edgesPerCall, len(part))])
					if err != nil {
						return 0, err
					}
					edges += got
				}
				return edges, nil
			}},
	}
	for _, st := range steps {
		r.progress("rep %d/%d: %s %s", rep+1, r.cfg.Reps, st.name, st.what)
		var edges [3]int
		el, err := interleave(st.name, withFloor, st.chunks, func(sd side, k int) error {
			got, err := st.run(rs[sd], k)
			edges[sd] += got
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		for _, sd := range withFloor {
			if (st.name == "P3c" || st.name == "P3d") && edges[sd] != r.data.edgeCount() {
				return fmt.Errorf("%s: %s: %d outgoing edges in all, want %d", sd, st.name, edges[sd], r.data.edgeCount())
			}
		}
		for _, sd := range order {
			s[sd][st.name] = st.per(el[sd])
		}
		s[base][st.name+floorSuffix] = st.per(el[cfloor])
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// interleave runs chunks 0..n-1 of a workload on each side of order in
// turn (which side goes first rotates with every chunk) and returns each
// side's total time.
func interleave(name string, order []side, n int, run func(sd side, k int) error) ([3]time.Duration, error) {
	var el [3]time.Duration
	for k := range n {
		for j := range order {
			sd := order[(j+k)%len(order)]
			t0 := time.Now()
			if err := labeled(name, sd, func() error { return run(sd, k) }); err != nil {
				return el, fmt.Errorf("%s: %w", sd, err)
			}
			el[sd] += time.Since(t0)
		}
	}
	return el, nil
}

// autocommit is P2 on a fresh database: upserts/s.
func (r *runner) autocommit(sd side) (float64, error) {
	var w workloads
	if sd == lib {
		w = &libWorkloads{r: r}
	} else {
		w = &baseWorkloads{r: r}
	}
	path := r.freshPath("w2", sd)
	defer removeDB(path)
	if err := w.open(path); err != nil {
		return 0, err
	}
	defer w.close()
	t0 := time.Now()
	for i := range r.cfg.Upserts {
		if err := w.upsertOne(i); err != nil {
			return 0, err
		}
	}
	el := time.Since(t0)
	return float64(r.cfg.Upserts) / el.Seconds(), w.close()
}

// workloads is one side's implementation of the statements.
type workloads interface {
	reader
	open(path string) error
	close() error
	ingest() error                               // P1
	checkpointSize() (float64, error)            // checkpoint, then the file size in MiB
	verify() error                               // the rows P1 wrote are all there
	upsertOne(i int) error                       // P2 and P5's writer: one node, one transaction
	read(i int) error                            // P5's readers: P3b, busy errors returned as errBusy
	search(q []float32, k int) ([]string, error) // P6, the ids found
}

// reader is what the reads (P3a–P3d) run: each side's workloads, and the C
// floor.
type reader interface {
	scan() (int, error)                   // P3a, the number of nodes
	get(i int) error                      // P3b
	outgoing(i int) (int, error)          // P3c, the number of edges
	outgoingOf(ids []string) (int, error) // P3d: the edges of many nodes, their number
}

// floorSuffix names the C floor's figure of a workload in the baseline's
// sample: "P3c" + floorSuffix.
const floorSuffix = "_c_floor"

// edgesPerCall is how many nodes one P3d call asks for: a traversal's
// frontier or the neighbours of a page of results.
const edgesPerCall = 100

// errBusy marks a busy error seen by P5, counted rather than failing the run.
var errBusy = errors.New("busy")

// isBusy reports whether err is SQLite's BUSY or LOCKED.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

func msPer(d time.Duration, n int) float64 { return d.Seconds() * 1e3 / float64(n) }
func usPer(d time.Duration, n int) float64 { return d.Seconds() * 1e6 / float64(n) }

// spec describes how a workload's samples become a report line.
type spec struct {
	name, unit     string
	higherIsBetter bool
	target         float64 // 0: none
	extras         []string
}

var specs = []spec{
	{"P1", "nodes/s", true, 19000, []string{"peak_rss_mib", "peak_heap_mib", "db_mib"}},
	{"P2", "upserts/s", true, 11000, nil},
	{"P3a", "ms/scan", false, 25, nil},
	{"P3b", "µs/op", false, 6, nil},
	{"P3c", "µs/op", false, 3.5, nil},
	{"P3d", "µs/node", false, 0, nil},
	{"P4", "µs/op", false, 70, nil},
	{"P4pool", "µs/op", false, 5, nil},
	{"P5", "reads/s", true, 0, []string{"writes_per_s", "p50_idle_us", "p99_idle_us", "p50_load_us", "p99_load_us", "busy_errors"}},
	{"P6", "queries/s", true, 0, []string{"kept_mib", "embeddings_mib"}},
	{"P9a", "µs/walk", false, 0, []string{"P9a_nodes"}},
	{"P9b", "µs/walk", false, 0, []string{"P9b_nodes"}},
	{"P9c", "µs/walk", false, 0, []string{"P9c_nodes"}},
	{"P9d", "µs/walk", false, 0, []string{"P9d_nodes"}},
}

// scaleSpecs are P7 and P8, run with Config.Scale; P7's baseline is
// sqlite-vec's exact KNN, P8's the library's own steady search.
var scaleSpecs = []spec{
	{"P7", "ms", false, 0, []string{"top10_p90_ms", "top50_p50_ms", "top50_p90_ms", "first_ms", "first_peak_rss_mib", "second_ms", "kept_mib", "embeddings_mib", "ns_per_node", "ns_per_node_20k", "top10_same_answers", "top50_same_answers"}},
	{"P8", "ms", false, 0, nil},
}

// P7's and P8's targets: P7's steady top-10 p50 at most p7Ratio times
// sqlite-vec's, its first search in a new process no slower than
// sqlite-vec's, the memory kept at most p7Memory times the float32
// embeddings, and the time per node at most p7PerNode times that at
// 20,000 nodes; P8's search after a write at most p8Ratio times a steady
// one.
const (
	p7Ratio   = 0.25
	p7Memory  = 0.5
	p7PerNode = 2
	p8Ratio   = 1.5
)

// P6's targets: the library answers at least w6Ratio times as many queries
// per second as the baseline, and keeps at most w6Memory times the
// embeddings' own size in memory for it.
const (
	w6Ratio  = 10
	w6Memory = 2
)

func (sp spec) summarize(libs, bases []sample) Workload {
	w := Workload{Name: sp.name, OldName: oldName(sp.name), Unit: sp.unit, HigherIsBetter: sp.higherIsBetter}
	for _, s := range libs {
		w.Runs = append(w.Runs, s[sp.name])
	}
	for _, s := range bases {
		w.BaselineRuns = append(w.BaselineRuns, s[sp.name])
	}
	w.Resonance, w.Baseline = median(w.Runs), median(w.BaselineRuns)
	if w.Baseline != 0 {
		w.Ratio = w.Resonance / w.Baseline
	}
	if sp.target > 0 {
		w.Target, w.HasTarget = sp.target, true
		if sp.higherIsBetter {
			w.TargetMet = w.Resonance >= sp.target
		} else {
			w.TargetMet = w.Resonance <= sp.target
		}
	}
	// The workloads the C floor ran (the reads and P4) report it, and its
	// ratio to the baseline: the time any Go code on these statements and
	// this SQLite cannot go below.
	if f := median(pick(bases, sp.name+floorSuffix)); f > 0 {
		w.Extra = append(w.Extra, Extra{"c_floor", f})
		if w.Baseline > 0 {
			w.Extra = append(w.Extra, Extra{"c_floor_ratio", f / w.Baseline})
		}
	}
	for _, key := range sp.extras {
		w.Extra = append(w.Extra, Extra{key, median(pick(libs, key))})
		w.Extra = append(w.Extra, Extra{"baseline_" + key, median(pick(bases, key))})
	}
	if sp.name == "P5" {
		// Busy errors are summed over the repetitions, not a median: the
		// requirement is none at all.
		for i := range w.Extra {
			switch w.Extra[i].Key {
			case "busy_errors":
				w.Extra[i].Value = sum(pick(libs, "busy_errors"))
			case "baseline_busy_errors":
				w.Extra[i].Value = sum(pick(bases, "busy_errors"))
			}
		}
		busy, _ := w.Get("busy_errors")
		w.TargetMet = busy == 0
	}
	if sp.name == "P7" {
		get := func(k string) float64 { v, _ := w.Get(k); return v }
		w.TargetMet = w.Ratio <= p7Ratio && get("first_ms") <= get("baseline_first_ms") &&
			get("kept_mib") <= p7Memory*get("embeddings_mib") && get("ns_per_node") <= p7PerNode*get("ns_per_node_20k")
	}
	if sp.name == "P8" {
		w.TargetMet = w.Ratio <= p8Ratio
	}
	if sp.name == "P6" {
		kept, _ := w.Get("kept_mib")
		emb, _ := w.Get("embeddings_mib")
		w.TargetMet = w.Ratio >= w6Ratio && kept <= w6Memory*emb
	}
	return w
}

func pick(ss []sample, key string) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = s[key]
	}
	return out
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func sum(vs []float64) float64 {
	t := 0.0
	for _, v := range vs {
		t += v
	}
	return t
}

func sqliteVersion() string {
	v, _, _ := sqlite3.Version()
	return v
}

// labeled runs fn with the pprof labels workload=name and side=sd, so a CPU
// profile of a run (resonance bench --cpuprofile) can be cut per workload:
// go tool pprof -tagfocus workload=P1 -tagfocus side=resonance.
func labeled(name string, sd side, fn func() error) error {
	var err error
	pprof.Do(context.Background(), pprof.Labels("workload", name, "side", sd.String()), func(context.Context) {
		err = fn()
	})
	return err
}
