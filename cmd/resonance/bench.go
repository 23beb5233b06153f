package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"

	"github.com/resonance-graph/resonancedb/bench"
	"github.com/resonance-graph/resonancedb/cmd/resonance/example"
)

const benchHelp = "Benchmark the library against plain database/sql + go-sqlite3 on the P workloads (RULES.md).\n\n" +
	"Runs bulk ingest (P1), autocommit upserts (P2), a metadata scan (P3a), get node (P3b),\n" +
	"outgoing edges (P3c), the same edges 100 nodes per call (P3d), per-request connections (P4;\n" +
	"P4pool through a long-lived pool), a mixed load (P5) and vector search (P6: top-10 queries\n" +
	"over every embedding, with the memory kept for them) and neighbourhoods (P9a-P9d: depth 2\n" +
	"and 3, both ways, from every node of the example graph and from the bulk ingest's biggest hub;\n" +
	"the baseline walks them the naive way, a query per node),\n" +
	"each on a fresh database, through the library and through a baseline that runs the same\n" +
	"statements with prepared statements in the same process. The reads and the per-request\n" +
	"connections also run from C with the baseline's statements and data: the C floor, which no\n" +
	"Go code on these statements goes below. Each figure is the median of the repetitions; ratio\n" +
	"is resonance ÷ baseline. The databases are created in --db-dir. Exits 1 when the mixed load\n" +
	"saw a busy error. With --scale it also runs P7, search over a million nodes beside sqlite-vec's\n" +
	"exact KNN (--sqlite-vec BIN, built by `make sqlitevec`), and P8, a search right after a\n" +
	"one-node write at 100,000 nodes, once each. The workloads were named W1-W6 before; the table shows the old name in\n" +
	"brackets and --json carries it as old_name, for one release."

func benchFlags(fs *flag.FlagSet) {
	fs.Bool("quick", false, "shrink every workload so the run takes well under a minute")
	fs.String("db-dir", "", "`DIR` for the benchmark databases (default a temporary directory, removed afterwards)")
	fs.Int("reps", 3, fmt.Sprintf("`N` repetitions of each workload, 1 to %d; each figure is their median", maxReps))
	fs.Bool("scale", false, "also run P7 (search over --scale-nodes random unit vectors of 384 floats, beside sqlite-vec with --sqlite-vec) and P8 (search right after a write at 100,000 nodes), once each; takes minutes and several GB of disk")
	fs.Int("scale-nodes", 1000000, "`N` nodes for P7")
	fs.String("sqlite-vec", "", "`BIN`: the sqlite-vec helper built by `make sqlitevec`, P7's baseline (without it P7 has none)")
	fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`; samples carry the labels workload=P1… and side=resonance|baseline|c, c being the C floor (go tool pprof -tagfocus)")
	progressFlag(fs)
}

// maxReps bounds --reps: each repetition reruns every workload.
const maxReps = 100

func runBench(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	if n := intFlag(fs, "scale-nodes"); n < 20000 || n > 100_000_000 {
		return usagef("--scale-nodes is %d: want 20000 to 100000000", n)
	}
	reps := intFlag(fs, "reps")
	if reps < 1 || reps > maxReps {
		return usagef("--reps is %d: want 1 to %d", reps, maxReps)
	}
	p, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Dir:        stringFlag(fs, "db-dir"),
		Quick:      boolFlag(fs, "quick"),
		Reps:       reps,
		Example:    example.Graph,
		Scale:      boolFlag(fs, "scale"),
		ScaleNodes: intFlag(fs, "scale-nodes"),
		SqliteVec:  stringFlag(fs, "sqlite-vec"),
		Progress: func(step string) {
			p.draw(fmt.Sprintf("bench %s  %s", p.elapsed().Round(1e9), step), true)
		},
	}
	if path := stringFlag(fs, "cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(e.ctx, cfg)
	p.clear()
	if err != nil {
		return err
	}
	if e.json {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printBench(e.stdout, rep)
	}
	if w5, ok := rep.Workload("P5"); ok {
		if busy, _ := w5.Get("busy_errors"); busy > 0 {
			if !e.json {
				fmt.Fprintf(e.stderr, "resonance bench: P5 saw %v busy errors through the library; there must be none\n", busy)
			}
			return checkFailed{fmt.Errorf("P5: %v busy errors", busy)}
		}
	}
	return nil
}

// printBench writes the report as a table and notes.
func printBench(w io.Writer, rep *bench.Report) {
	env := rep.Env
	mode := "full"
	if env.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "resonance bench (%s): %s, GOMAXPROCS %d of %d CPUs, SQLite %s, %d nodes, median of %d repetitions, %v\n\n",
		mode, env.GoVersion, env.GOMAXPROCS, env.NumCPU, env.SQLiteVersion, env.Nodes, env.Reps, env.Duration.Round(1e8))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tunit\tresonance\tbaseline\tratio\tvs baseline\ttarget\tmet\t")
	for _, wl := range rep.Workloads {
		target, met := "—", "—"
		if wl.HasTarget {
			op := "≤"
			if wl.HigherIsBetter {
				op = "≥"
			}
			target = op + " " + figure(wl.Target)
		}
		if wl.HasTarget || wl.Name == "P5" || wl.Name == "P6" {
			met = "no"
			if wl.TargetMet {
				met = "yes"
			}
		}
		switch wl.Name {
		case "P5":
			target = "0 busy"
		case "P6":
			target = "≥ 10×, ≤ 2× mem"
		}
		name := wl.Name
		if wl.OldName != "" {
			name += " (" + wl.OldName + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t\n", name, wl.Unit, figure(wl.Resonance), figure(wl.Baseline),
			wl.Ratio, versus(wl), target, met)
	}
	tw.Flush()
	if w1, ok := rep.Workload("P1"); ok {
		g := func(k string) string { v, _ := w1.Get(k); return fmt.Sprintf("%.1f", v) }
		fmt.Fprintf(w, "\nP1 peak memory: RSS %s MiB (baseline %s), Go heap %s MiB (baseline %s)\n",
			g("peak_rss_mib"), g("baseline_peak_rss_mib"), g("peak_heap_mib"), g("baseline_peak_heap_mib"))
		fmt.Fprintf(w, "P1 database size, checkpointed: %s MiB (baseline %s)\n", g("db_mib"), g("baseline_db_mib"))
	}
	if w5, ok := rep.Workload("P5"); ok {
		g := func(k string) string { v, _ := w5.Get(k); return figure(v) }
		fmt.Fprintf(w, "P5 writes/s %s (baseline %s); read latency µs p50/p99 idle %s/%s, under load %s/%s (baseline idle %s/%s, load %s/%s); busy errors %s (baseline %s)\n",
			g("writes_per_s"), g("baseline_writes_per_s"),
			g("p50_idle_us"), g("p99_idle_us"), g("p50_load_us"), g("p99_load_us"),
			g("baseline_p50_idle_us"), g("baseline_p99_idle_us"), g("baseline_p50_load_us"), g("baseline_p99_load_us"),
			g("busy_errors"), g("baseline_busy_errors"))
	}
	if w6, ok := rep.Workload("P6"); ok {
		kept, _ := w6.Get("kept_mib")
		base, _ := w6.Get("baseline_kept_mib")
		emb, _ := w6.Get("embeddings_mib")
		fmt.Fprintf(w, "P6 memory kept for the queries: %.1f MiB (baseline %.1f) for %.1f MiB of embeddings\n", kept, base, emb)
	}
	var walks []string
	for _, name := range []string{"P9a", "P9b", "P9c", "P9d"} {
		if wl, ok := rep.Workload(name); ok {
			n, _ := wl.Get(name + "_nodes")
			walks = append(walks, fmt.Sprintf("%s %s", name, figure(n)))
		}
	}
	if len(walks) > 0 {
		fmt.Fprintf(w, "P9 nodes per walk (both ways; a: example depth 2, b: depth 3, c: P1 hub depth 2, d: depth 3; baseline: a query per node): %s\n", strings.Join(walks, ", "))
	}
	var floors []string
	for _, wl := range rep.Workloads {
		if f, ok := wl.Get("c_floor"); ok {
			r, _ := wl.Get("c_floor_ratio")
			floors = append(floors, fmt.Sprintf("%s %s %s (%.2f)", wl.Name, figure(f), wl.Unit, r))
		}
	}
	if len(floors) > 0 {
		fmt.Fprintf(w, "C floor, the baseline's statements and data from C on the same SQLite (÷ baseline): %s\n", strings.Join(floors, ", "))
	}
	fmt.Fprintf(w, "\nratio = resonance ÷ baseline; targets from issue 5; in brackets the name a workload had before P1–P9. %s.\n", env.MemoryMethod)
	fmt.Fprintf(w, "%s.\n", bench.BaselineNote)
}

// figure formats v with thousands separators, and decimals below 100.
func figure(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 10:
		return fmt.Sprintf("%.2f", v)
	case math.Abs(v) < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return thousands(int64(math.Round(v)))
}

// versus says how the library compares with the baseline.
func versus(wl bench.Workload) string {
	if wl.Resonance <= 0 || wl.Baseline <= 0 {
		return "—"
	}
	speed := wl.Ratio // how many times faster
	if !wl.HigherIsBetter {
		speed = 1 / wl.Ratio
	}
	if speed >= 1 {
		return fmt.Sprintf("%.2f× faster", speed)
	}
	return strings.TrimSpace(fmt.Sprintf("%.0f%% slower", (1/speed-1)*100))
}
