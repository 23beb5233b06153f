package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// P7 and P8 run with Config.Scale (`resonance bench --scale`), once each:
//
//	P7  search at scale: Config.ScaleNodes (1,000,000) random unit vectors of
//	    384 floats; top-10 and top-50 queries, steady p50 and p90, the first
//	    search in a new process (open included, with that process's peak
//	    resident set), the memory the store keeps
//	    for search beside the float32 embeddings' size, and the time per
//	    node against the same search over the first 20,000 nodes. Beside it,
//	    on the same vectors, sqlite-vec's exact KNN (a vec0 table), run by
//	    the helper of bench/sqlitevec (a module of its own; Config.SqliteVec
//	    is its binary): its p50, p90 and first search, and how many queries
//	    both sides answer with the same nodes in the same order.
//	P8  live search at Config.LiveNodes (100,000): write one node, then
//	    search, p50, against a steady search's p50 on the same store.
//
// P7's resonance figure is the top-10 steady p50 in ms, its baseline
// sqlite-vec's; P8's resonance figure is the search after a write, its
// baseline the steady search.

// scaleQueries is how many queries P7 and P8 time.
const scaleQueries = 40

// unitVectors returns n random unit vectors of Dim floats from seed.
func unitVectors(seed uint64, from, n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		rng := rand.New(rand.NewPCG(seed, uint64(from+i)))
		v := make([]float32, Dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		out[i] = resonance.Normalize(v)
	}
	return out
}

// buildScaleDB writes n nodes with random unit embeddings through the
// library, 5,000 per transaction, then searches once, as an application
// that searches does: that store writes the snapshot of its search copy,
// from which the first search of a new process starts, before its Close
// returns.
func buildScaleDB(path string, n int, progress func(string, ...any)) error {
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		return err
	}
	defer s.Close()
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		if lo%100000 == 0 {
			progress("P7: writing nodes %d/%d", lo, n)
		}
		vs := unitVectors(7, lo, min(batch, n-lo))
		nodes := make([]resonance.Node, len(vs))
		for i, v := range vs {
			nodes[i] = resonance.Node{ID: fmt.Sprintf("v%07d", lo+i), Type: "doc", Title: "node", Embedding: v}
		}
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNodes(ctx, nodes) }); err != nil {
			return err
		}
	}
	progress("P7: the first search of the store that wrote them")
	if _, err := s.SearchByVector(ctx, unitVectors(19, 0, 1)[0], resonance.SearchOptions{K: searchK}); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	// A checkpoint, so that the first search's process reads the file as
	// a process opening it later would.
	s, err = resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		return err
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// timings returns the p50 and p90 of ms.
func timings(ms []float64) (p50, p90 float64) {
	s := slices.Clone(ms)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)*9/10]
}

// timeSearches runs each query with k on s and returns each one's ms and
// the rowids of the hits (ids "v%07d" are rowid-1).
func timeSearches(s *resonance.Store, qs [][]float32, k int) ([]float64, [][]int64, error) {
	var ms []float64
	var found [][]int64
	for _, q := range qs {
		t0 := time.Now()
		res, err := s.SearchByVector(ctx, q, resonance.SearchOptions{K: k})
		if err != nil {
			return nil, nil, err
		}
		ms = append(ms, float64(time.Since(t0).Nanoseconds())/1e6)
		ids := make([]int64, len(res.Hits))
		for i, h := range res.Hits {
			n, _ := strconv.ParseInt(h.ID[1:], 10, 64)
			ids[i] = n + 1
		}
		found = append(found, ids)
	}
	return ms, found, nil
}

// childEnv names the database a child process (FirstSearchChild) searches.
const childEnv = "RESONANCE_BENCH_FIRST_SEARCH"

// FirstSearchChild is the new process of P7's first search: when the
// environment names a database, it opens it, searches once (top-10), prints
// the milliseconds both took and exits. `resonance bench` calls it first.
func FirstSearchChild() {
	path := os.Getenv(childEnv)
	if path == "" {
		return
	}
	q := unitVectors(11, 0, 1)[0]
	t0 := time.Now()
	s, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true})
	if err == nil {
		_, err = s.SearchByVector(ctx, q, resonance.SearchOptions{K: searchK})
		s.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kb, _ := vmHWM()
	fmt.Println(float64(time.Since(t0).Nanoseconds())/1e6, float64(kb)/1024)
	os.Exit(0)
}

// firstSearch runs FirstSearchChild in a new process of this executable
// and returns its milliseconds and the child's peak resident set in MiB.
func firstSearch(path string) (ms, peakMiB float64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("first search in a new process: %w", err)
	}
	_, err = fmt.Sscan(string(bytes.TrimSpace(out)), &ms, &peakMiB)
	return ms, peakMiB, err
}

// vecResult is what the sqlite-vec helper prints.
type vecResult struct {
	FirstMs float64   `json:"first_ms"`
	Ms      []float64 `json:"ms"`
	Rowids  [][]int64 `json:"rowids"`
}

// scale runs P7 and P8 and adds their samples to s.
func (r *runner) scale(s [2]sample) error {
	n := r.cfg.ScaleNodes
	path := filepath.Join(r.dir, "p7.db")
	defer removeDB(path)
	if err := buildScaleDB(path, n, r.progress); err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	qs := unitVectors(11, 0, scaleQueries+1) // the first is FirstSearchChild's
	lib, base := s[lib], s[base]
	base["embeddings_mib"] = float64(n*Dim*4) / (1 << 20)

	r.progress("P7: first search in a new process")
	first, peak, err := firstSearch(path)
	if err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	lib["first_ms"], lib["first_peak_rss_mib"] = first, peak
	before := liveHeap()
	st, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	defer st.Close()
	// The first search answers from the snapshot and starts building the
	// copy; the second waits for it.
	if _, err := st.SearchByVector(ctx, qs[0], resonance.SearchOptions{K: searchK}); err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	t0 := time.Now()
	if _, err := st.SearchByVector(ctx, qs[0], resonance.SearchOptions{K: searchK}); err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	lib["second_ms"] = float64(time.Since(t0).Nanoseconds()) / 1e6
	lib["kept_mib"] = float64(max(liveHeap()-before, 0)) / (1 << 20)
	lib["embeddings_mib"] = base["embeddings_mib"]
	r.progress("P7: steady searches")
	found := map[int][][]int64{}
	for _, k := range []int{10, 50} {
		ms, ids, err := timeSearches(st, qs[1:], k)
		if err != nil {
			return fmt.Errorf("P7: %w", err)
		}
		found[k] = ids
		p50, p90 := timings(ms)
		if k == 10 {
			lib["P7"] = p50
		}
		lib[fmt.Sprintf("top%d_p50_ms", k)], lib[fmt.Sprintf("top%d_p90_ms", k)] = p50, p90
	}
	if err := st.Close(); err != nil {
		return err
	}

	// The time per node at 20,000 nodes, the first of the same vectors.
	small := filepath.Join(r.dir, "p7-20k.db")
	defer removeDB(small)
	if err := buildScaleDB(small, 20000, r.progress); err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	if err := func() error {
		st, err := resonance.Open(ctx, small, resonance.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		if _, _, err := timeSearches(st, qs[:1], searchK); err != nil {
			return err
		}
		ms, _, err := timeSearches(st, qs[1:], searchK)
		p50, _ := timings(ms)
		lib["ns_per_node_20k"] = p50 * 1e6 / 20000
		lib["ns_per_node"] = lib["P7"] * 1e6 / float64(n)
		return err
	}(); err != nil {
		return fmt.Errorf("P7 at 20,000: %w", err)
	}

	if r.cfg.SqliteVec != "" {
		if err := r.sqliteVec(path, qs, found, base); err != nil {
			return fmt.Errorf("P7 sqlite-vec: %w", err)
		}
	}
	return r.live(s)
}

// sqliteVec runs P7's sqlite-vec side and compares its answers with found.
func (r *runner) sqliteVec(path string, qs [][]float32, found map[int][][]int64, base sample) error {
	vecPath := filepath.Join(r.dir, "p7-vec.db")
	defer removeDB(vecPath)
	r.progress("P7: sqlite-vec: building its vec0 table")
	if out, err := exec.Command(r.cfg.SqliteVec, "build", path, vecPath).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	qfile := filepath.Join(r.dir, "p7-queries.bin")
	defer os.Remove(qfile)
	var raw []byte
	for _, q := range qs {
		for _, x := range q {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(qfile, raw, 0o600); err != nil {
		return err
	}
	for _, k := range []int{10, 50} {
		r.progress("P7: sqlite-vec: top-%d", k)
		out, err := exec.Command(r.cfg.SqliteVec, "search", vecPath, qfile, strconv.Itoa(k)).Output()
		if err != nil {
			return err
		}
		var vr vecResult
		if err := json.Unmarshal(out, &vr); err != nil {
			return err
		}
		p50, p90 := timings(vr.Ms)
		if k == 10 {
			base["P7"] = p50
			base["first_ms"] = vr.FirstMs
		}
		base[fmt.Sprintf("top%d_p50_ms", k)], base[fmt.Sprintf("top%d_p90_ms", k)] = p50, p90
		same := 0
		for i, ids := range found[k] {
			if i+1 < len(vr.Rowids) && slices.Equal(ids, vr.Rowids[i+1]) {
				same++
			}
		}
		base[fmt.Sprintf("top%d_same_answers", k)] = float64(same)
	}
	return nil
}

// live runs P8: at Config.LiveNodes, a steady search's p50 against a
// search right after a one-node write.
func (r *runner) live(s [2]sample) error {
	n := r.cfg.LiveNodes
	path := filepath.Join(r.dir, "p8.db")
	defer removeDB(path)
	if err := buildScaleDB(path, n, r.progress); err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	st, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	defer st.Close()
	qs := unitVectors(13, 0, scaleQueries+1)
	// The first search answers from the snapshot and starts building the
	// copy; the second waits for it.
	if _, _, err := timeSearches(st, []([]float32){qs[0], qs[0]}, searchK); err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	r.progress("P8: steady searches and searches after a write")
	steady, _, err := timeSearches(st, qs[1:], searchK)
	if err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	writes := unitVectors(17, 0, scaleQueries)
	var after []float64
	for i, q := range qs[1:] {
		if err := st.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("w%d", i), Type: "doc", Embedding: writes[i]})
		}); err != nil {
			return fmt.Errorf("P8: %w", err)
		}
		ms, _, err := timeSearches(st, [][]float32{q}, searchK)
		if err != nil {
			return fmt.Errorf("P8: %w", err)
		}
		after = append(after, ms[0])
	}
	s[lib]["P8"], _ = timings(after)
	s[base]["P8"], _ = timings(steady)
	return st.Close()
}
