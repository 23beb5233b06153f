package bench_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/bench"
)

// TestRun runs every workload at a tiny size and checks that the results
// are sane. It asserts nothing about speed.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var steps []string
	cfg := bench.Config{
		Dir: dir, Reps: 1, Nodes: 50, Batch: 20, Upserts: 20, Scans: 2, Connects: 5, PoolQueries: 20,
		Mixed: 200 * time.Millisecond, MixedIdle: 50 * time.Millisecond, Readers: 2, Queries: 20,
		Example: []byte(`{"kind":"node","id":"a","type":"doc"}
{"kind":"node","id":"b","type":"doc"}
{"kind":"node","id":"c","type":"doc"}
{"kind":"node","id":"d","type":"doc"}
{"kind":"node","id":"e","type":"doc"}
{"kind":"edge","source":"a","target":"b","type":"t","confidence":0.5,"veracity":1}
{"kind":"edge","source":"b","target":"c","type":"t","confidence":1,"veracity":1}
{"kind":"edge","source":"c","target":"a","type":"u","confidence":1,"veracity":1}
{"kind":"edge","source":"d","target":"c","type":"u","confidence":1,"veracity":1}
{"kind":"edge","source":"e","target":"d","type":"u","confidence":1,"veracity":1}
`),
		Progress: func(s string) { steps = append(steps, s) },
	}
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Error("no progress reported")
	}
	for _, name := range bench.Names {
		w, ok := rep.Workload(name)
		if !ok {
			t.Errorf("%s missing from the report", name)
			continue
		}
		if w.Resonance <= 0 || w.Baseline <= 0 || w.Ratio <= 0 {
			t.Errorf("%s: resonance %v, baseline %v, ratio %v: want positive figures", name, w.Resonance, w.Baseline, w.Ratio)
		}
		if len(w.Runs) != 1 || len(w.BaselineRuns) != 1 {
			t.Errorf("%s: %d and %d runs, want 1 each", name, len(w.Runs), len(w.BaselineRuns))
		}
	}
	w5, _ := rep.Workload("P5")
	for _, key := range []string{"busy_errors", "baseline_busy_errors"} {
		if v, ok := w5.Get(key); !ok || v != 0 {
			t.Errorf("P5 %s = %v (present %v), want 0", key, v, ok)
		}
	}
	for _, key := range []string{"writes_per_s", "p99_idle_us", "p99_load_us"} {
		if v, ok := w5.Get(key); !ok || v <= 0 {
			t.Errorf("P5 %s = %v (present %v), want positive", key, v, ok)
		}
	}
	w1, _ := rep.Workload("P1")
	for _, key := range []string{"peak_rss_mib", "peak_heap_mib", "db_mib", "baseline_db_mib"} {
		if v, ok := w1.Get(key); !ok || v <= 0 {
			t.Errorf("P1 %s = %v (present %v), want positive", key, v, ok)
		}
	}

	for _, name := range []string{"P3a", "P3b", "P3c", "P3d", "P4"} {
		w, _ := rep.Workload(name)
		for _, key := range []string{"c_floor", "c_floor_ratio"} {
			if v, ok := w.Get(key); !ok || v <= 0 {
				t.Errorf("%s %s = %v (present %v), want positive", name, key, v, ok)
			}
		}
	}
	for _, name := range []string{"P1", "P2", "P4pool", "P5", "P6"} {
		w, _ := rep.Workload(name)
		if v, ok := w.Get("c_floor"); ok {
			t.Errorf("%s has a C floor (%v): the floor runs only the reads and P4", name, v)
		}
	}

	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Workloads []map[string]any `json:"workloads"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	var names []string
	for _, w := range doc.Workloads {
		names = append(names, w["name"].(string))
		for _, key := range []string{"unit", "resonance", "baseline", "ratio"} {
			if _, ok := w[key]; !ok {
				t.Errorf("%v has no %q", w["name"], key)
			}
		}
	}
	if !slices.Equal(names, bench.Names) {
		t.Errorf("JSON workloads %v, want %v", names, bench.Names)
	}
	jsonOf := func(name string) map[string]any {
		for _, w := range doc.Workloads {
			if w["name"] == name {
				return w
			}
		}
		return nil
	}
	// P1–P6 carry the names they had before the rename; a new workload has none.
	olds := map[string]string{"P1": "W1", "P2": "W2", "P3a": "W3a", "P3b": "W3b", "P3c": "W3c",
		"P3d": "W3d", "P4": "W4", "P4pool": "W4pool", "P5": "W5", "P6": "W6"}
	for _, name := range bench.Names {
		if old, _ := jsonOf(name)["old_name"].(string); old != olds[name] {
			t.Errorf("%s JSON old_name = %q, want %q", name, old, olds[name])
		}
	}
	for _, key := range []string{"busy_errors", "p99_idle_us", "p99_load_us"} {
		if _, ok := jsonOf("P5")[key]; !ok {
			t.Errorf("P5 JSON has no %q", key)
		}
	}
	for _, key := range []string{"kept_mib", "baseline_kept_mib", "embeddings_mib"} {
		if _, ok := jsonOf("P6")[key]; !ok {
			t.Errorf("P6 JSON has no %q", key)
		}
	}
	// Within depth 2 both ways a and b reach 4 nodes, themselves
	// included, c and d all 5, e 3: 21 in 5 walks.
	if w, _ := rep.Workload("P9a"); w.Extra == nil {
		t.Error("P9a has no nodes per walk")
	} else if v, _ := w.Get("P9a_nodes"); v != 21.0/5 {
		t.Errorf("P9a: %v nodes per walk, want 4.2", v)
	}
	w6, _ := rep.Workload("P6")
	if kept, _ := w6.Get("kept_mib"); kept <= 0 {
		t.Errorf("P6 kept_mib = %v: the library keeps its copy of the embeddings, want positive", kept)
	}
}
