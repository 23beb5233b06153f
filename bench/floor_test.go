package bench

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFloor_ReadsWhatTheBaselineWrote runs the C floor's statements on a
// copy of a small baseline database: every node and edge is there, and a
// missing node is an error, not a count.
func TestFloor_ReadsWhatTheBaselineWrote(t *testing.T) {
	cfg := Config{Nodes: 30, Batch: 10}.withDefaults()
	r := &runner{cfg: cfg, dir: t.TempDir(), data: newData(cfg.Nodes, cfg.EdgesPerNode)}
	path := r.freshPath("w1", base)
	w := &baseWorkloads{r: r}
	if err := w.open(path); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.ingest(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.checkpointSize(); err != nil {
		t.Fatal(err)
	}
	cp := r.freshPath("w1", cfloor)
	if err := copyDB(path, cp); err != nil {
		t.Fatal(err)
	}
	if err := copyDB(path, cp); err == nil {
		t.Error("copyDB over an existing database succeeded; want an error")
	}
	f, err := openFloor(r, cp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	if n, err := f.scan(); err != nil || n != cfg.Nodes {
		t.Errorf("scan = %d, %v; want %d nodes", n, err, cfg.Nodes)
	}
	edges := 0
	for i := range cfg.Nodes {
		if err := f.get(i); err != nil {
			t.Fatal(err)
		}
		n, err := f.outgoing(i)
		if err != nil {
			t.Fatal(err)
		}
		edges += n
	}
	if edges != r.data.edgeCount() {
		t.Errorf("outgoing edges %d in all, want %d", edges, r.data.edgeCount())
	}
	if n, err := f.outgoingOf(r.data.ids); err != nil || n != r.data.edgeCount() {
		t.Errorf("outgoingOf = %d, %v; want %d", n, err, r.data.edgeCount())
	}
	r.data.ids[0] = "no such node"
	if err := f.get(0); err == nil || !strings.Contains(err.Error(), "0 rows") {
		t.Errorf("get of a missing node = %v, want an error saying 0 rows", err)
	}
}

// TestFloor_ConnectFailureIsAnError: P4's floor on a file without the
// schema reports SQLite's failure instead of a count.
func TestFloor_ConnectFailureIsAnError(t *testing.T) {
	_, err := floorConnect(filepath.Join(t.TempDir(), "empty.db"))
	if err == nil || !strings.Contains(err.Error(), "result code") {
		t.Fatalf("floorConnect on a database without nodes = %v, want SQLite's result code", err)
	}
}
