package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// exported is the example graph as `export` writes it.
type exported struct {
	nodes []string
	edges []resonance.Edge
}

func exportGraph(t *testing.T, db string) exported {
	t.Helper()
	var g exported
	sc := bufio.NewScanner(strings.NewReader(mustCLI(t, 0, "", "--db", db, "export").stdout))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var l struct {
			Kind, ID             string
			Source, Target, Type string
			Confidence, Veracity float64
			ContextSource        string `json:"context_source"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Kind == "node" {
			g.nodes = append(g.nodes, l.ID)
		} else {
			g.edges = append(g.edges, resonance.Edge{Source: l.Source, Target: l.Target, Type: l.Type, Confidence: l.Confidence, Veracity: l.Veracity, ContextSource: l.ContextSource})
		}
	}
	return g
}

// degrees returns every node's number of edges, in and out, and the nodes
// ordered by it, most first (then by id).
func (g exported) degrees() (map[string]int, []string) {
	deg := map[string]int{}
	for _, e := range g.edges {
		deg[e.Source]++
		deg[e.Target]++
	}
	ids := slices.Clone(g.nodes)
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(deg[b], deg[a]), strings.Compare(a, b)) })
	return deg, ids
}

// bfs walks g breadth first from root, as `edges --depth` should.
func (g exported) bfs(root, dir string, depth int, types []string) resonance.Neighbourhood {
	ok := func(e resonance.Edge) bool { return len(types) == 0 || slices.Contains(types, e.Type) }
	dist := map[string]int{root: 0}
	frontier := []string{root}
	for d := 1; d <= depth; d++ {
		var next []string
		for _, id := range frontier {
			for _, e := range g.edges {
				if !ok(e) {
					continue
				}
				for _, to := range []struct {
					from, to string
					follow   bool
				}{{e.Source, e.Target, dir != "in"}, {e.Target, e.Source, dir != "out"}} {
					if _, seen := dist[to.to]; to.follow && to.from == id && !seen {
						dist[to.to] = d
						next = append(next, to.to)
					}
				}
			}
		}
		frontier = next
	}
	nb := resonance.Neighbourhood{Nodes: []resonance.Reached{}, Edges: []resonance.Edge{}}
	for id, d := range dist {
		nb.Nodes = append(nb.Nodes, resonance.Reached{ID: id, Distance: d})
	}
	slices.SortFunc(nb.Nodes, func(a, b resonance.Reached) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), strings.Compare(a.ID, b.ID))
	})
	for _, e := range g.edges {
		if _, s := dist[e.Source]; s && ok(e) {
			if _, t := dist[e.Target]; t {
				nb.Edges = append(nb.Edges, e)
			}
		}
	}
	slices.SortFunc(nb.Edges, func(a, b resonance.Edge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target), strings.Compare(a.Type, b.Type))
	})
	return nb
}

// TestEdges_DepthEqualsBreadthFirstWalk: `edges ID --depth N --json` is a
// breadth-first walk over the export, from the example graph's biggest
// hub, a middle node and a leaf, every direction, depth 1 to 3, with and
// without a type filter (D12).
func TestEdges_DepthEqualsBreadthFirstWalk(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	g := exportGraph(t, db)
	deg, ids := g.degrees()
	leaf := ids[len(ids)-1]
	for i := len(ids) - 1; deg[leaf] == 0; i-- {
		leaf = ids[i]
	}
	roots := []string{ids[0], ids[len(ids)/2], leaf}
	types := map[string]int{}
	for _, e := range g.edges {
		types[e.Type]++
	}
	common := ""
	for ty, n := range types {
		if n > types[common] || n == types[common] && ty < common {
			common = ty
		}
	}
	t.Logf("roots %v (degrees %d, %d, %d), type %q", roots, deg[roots[0]], deg[roots[1]], deg[roots[2]], common)
	for _, root := range roots {
		for _, dir := range []string{"out", "in", "both"} {
			for depth := 1; depth <= 3; depth++ {
				for _, filter := range [][]string{nil, {common}} {
					args := []string{"--db", db, "edges", root, "--depth", fmt.Sprint(depth), "--limit", "100000", "--json"}
					if dir != "out" {
						args = append(args, "--"+dir)
					}
					for _, ty := range filter {
						args = append(args, "--type", ty)
					}
					var got resonance.Neighbourhood
					decode(t, mustCLI(t, 0, "", args...), &got)
					if diff := gocmp.Diff(g.bfs(root, dir, depth, filter), got); diff != "" {
						t.Errorf("%v (-bfs +got):\n%s", args[2:], diff)
					}
				}
			}
		}
	}
}

// TestRm_Hub: after `rm` of the example graph's biggest hub, the node and
// every edge touching it are gone, with one history row per removal,
// `show` exits 1, and `search --like` over every other node never returns
// it, in this process or another (D11).
func TestRm_Hub(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	g := exportGraph(t, db)
	deg, ids := g.degrees()
	hub := ids[0]
	history := count(t, db, "SELECT count(*) FROM history")
	edges := count(t, db, "SELECT count(*) FROM edges")

	// An unknown id among them: exit 1 naming it, nothing deleted.
	r := mustCLI(t, 1, "", "--db", db, "rm", hub, "no-such-node")
	if !strings.Contains(r.stderr, `"no-such-node"`) {
		t.Errorf("rm with an unknown id: stderr %q does not name it", r.stderr)
	}
	dry := mustCLI(t, 0, "", "--db", db, "rm", "--dry-run", hub)
	if !strings.Contains(dry.stdout, fmt.Sprintf("would delete 1 node and %d edges", deg[hub])) {
		t.Errorf("rm --dry-run:\n%s\nwant it to list 1 node and %d edges", dry.stdout, deg[hub])
	}
	if count(t, db, "SELECT count(*) FROM history") != history || count(t, db, "SELECT count(*) FROM nodes WHERE id = ?", hub) != 1 {
		t.Fatal("a failed rm or a dry run changed the database")
	}

	var res rmResult
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "rm", hub), &res)
	if len(res.Nodes) != 1 || len(res.Edges) != deg[hub] {
		t.Errorf("rm reported %d nodes and %d edges, want 1 and %d", len(res.Nodes), len(res.Edges), deg[hub])
	}
	if got := count(t, db, "SELECT count(*) FROM edges WHERE source = ? OR target = ?", hub, hub); got != 0 {
		t.Errorf("%d edges still touch %q", got, hub)
	}
	if got := edges - count(t, db, "SELECT count(*) FROM edges"); got != int64(deg[hub]) {
		t.Errorf("rm removed %d edges, want %d", got, deg[hub])
	}
	if got := count(t, db, "SELECT count(*) FROM history WHERE action = 'delete'"); got != int64(deg[hub]+1) || count(t, db, "SELECT count(*) FROM history") != history+got {
		t.Errorf("%d delete rows in history, want one per removal: %d", got, deg[hub]+1)
	}
	mustCLI(t, 1, "", "--db", db, "show", hub)
	mustCLI(t, 1, "", "--db", db, "edges", hub)
	var changes []resonance.Change
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "history", hub, "--limit", "1"), &changes)
	if len(changes) != 1 || changes[0].Action != "delete" || !strings.Contains(compact(t, changes[0].Old), `"id":`+fmt.Sprintf("%q", hub)) {
		t.Errorf("history %s --limit 1: %+v, want its delete with the old node", hub, changes)
	}

	// Every other node's neighbours by embedding, as search --like asks
	// for them, through one store (a new store per node through the CLI
	// costs seconds per hundred under the race detector); then the CLI's
	// own search --like for some, here and in another process.
	s, err := resonance.Open(t.Context(), db, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.Reads().GetNodes(t.Context(), resonance.NodeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var searched int
	for _, n := range all {
		if len(n.Embedding) == 0 {
			continue
		}
		res, err := s.SearchByVector(t.Context(), n.Embedding, resonance.SearchOptions{K: 1000})
		if err != nil {
			t.Fatal(err)
		}
		searched++
		for _, h := range res.Hits {
			if h.ID == hub {
				t.Errorf("a search like %s returns the deleted %s", n.ID, hub)
			}
		}
	}
	if searched < len(g.nodes)/2 {
		t.Errorf("only %d nodes could be searched like", searched)
	}
	for _, id := range ids[1:6] {
		var hits struct {
			DB      string                `json:"db"`
			Hits    []resonance.SearchHit `json:"hits"`
			Skipped int                   `json:"skipped"`
		}
		decode(t, mustCLI(t, 0, "", "--db", db, "--json", "search", "--like", id, "--k", "1000"), &hits)
		for _, h := range hits.Hits {
			if h.ID == hub {
				t.Errorf("search --like %s returns the deleted %s", id, hub)
			}
		}
		if len(hits.Hits) == 0 {
			t.Errorf("search --like %s returns nothing", id)
		}
	}
	for _, id := range ids[1:3] {
		out, err := cliCommand("--db", db, "--json", "search", "--like", id, "--k", "1000").Output()
		if err != nil {
			t.Fatalf("search in another process: %v", err)
		}
		if strings.Contains(string(out), fmt.Sprintf("%q", hub)) || !strings.Contains(string(out), `"hits"`) {
			t.Errorf("another process's search --like %s: %s", id, out)
		}
	}
}

// compact returns the JSON b without spaces.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// cliCommand is the CLI in a child process, not started, for a command
// whose output the caller reads.
func cliCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperCLI$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "RESONANCE_CLI_CHILD=1")
	return cmd
}

func TestRm_Edge(t *testing.T) {
	db := newDB(t)
	mustCLI(t, 0, `{"kind":"node","id":"a","type":"doc"}
{"kind":"node","id":"b","type":"doc"}
{"kind":"edge","source":"a","target":"b","type":"cites"}
{"kind":"edge","source":"a","target":"b"}
`, "--db", db, "import", "-")
	r := mustCLI(t, 1, "", "--db", db, "rm", "--edge", "a", "b", "nope")
	if !strings.Contains(r.stderr, `"a" -> "b" [nope]`) {
		t.Errorf("rm --edge of no edge: %q does not name it", r.stderr)
	}
	mustCLI(t, 2, "", "--db", db, "rm", "--edge", "a", "b")
	mustCLI(t, 2, "", "--db", db, "rm")
	mustCLI(t, 0, "", "--db", db, "rm", "--edge", "--dry-run", "a", "b", "cites")
	mustCLI(t, 0, "", "--db", db, "rm", "--edge", "a", "b", "cites")
	var left []resonance.Edge
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "edges", "a"), &left)
	want := []resonance.Edge{{Source: "a", Target: "b", Type: "related_to", Confidence: 1, Veracity: 1}}
	if diff := gocmp.Diff(want, left); diff != "" {
		t.Errorf("edges after rm --edge (-want +got):\n%s", diff)
	}
	if got := count(t, db, "SELECT count(*) FROM history WHERE action = 'delete' AND entity_id = 'a|b|cites'"); got != 1 {
		t.Errorf("%d history rows for the deleted edge, want 1", got)
	}
}

func TestShowLsHistory(t *testing.T) {
	db := newDB(t)
	mustCLI(t, 0, `{"kind":"node","id":"a","type":"doc","title":"A","domain":"x","embedding":[1,0],"meta":{"k":1}}
{"kind":"node","id":"b","type":"note","title":"B"}
{"kind":"node","id":"c","type":"doc","title":"C"}
{"kind":"edge","source":"a","target":"b"}
{"kind":"edge","source":"c","target":"a"}
{"kind":"edge","source":"b","target":"a"}
`, "--db", db, "import", "-")
	var v nodeView
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "show", "a"), &v)
	v.Meta = json.RawMessage(compact(t, v.Meta))
	want := nodeView{ID: "a", Type: "doc", Title: "A", Domain: "x", Layer: "experience", Meta: json.RawMessage(`{"k":1}`), EmbeddingDim: 2, EdgesOut: 1, EdgesIn: 2}
	if diff := gocmp.Diff(want, v); diff != "" {
		t.Errorf("show --json (-want +got):\n%s", diff)
	}
	if r := mustCLI(t, 0, "", "--db", db, "show", "a"); !strings.Contains(r.stdout, "2 floats") || !strings.Contains(r.stdout, "1 out, 2 in") {
		t.Errorf("show:\n%s", r.stdout)
	}
	if r := mustCLI(t, 1, "", "--db", db, "show", "zz"); !strings.Contains(r.stderr, `no node "zz"`) {
		t.Errorf("show of no node: %q", r.stderr)
	}
	mustCLI(t, 2, "", "--db", db, "show")

	var list []listedNode
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "ls", "--type", "doc"), &list)
	if len(list) != 2 || list[0].ID != "a" || list[1].ID != "c" {
		t.Errorf("ls --type doc: %+v", list)
	}
	r := mustCLI(t, 0, "", "--db", db, "ls", "--limit", "1", "--offset", "1")
	if !strings.HasPrefix(r.stdout, "b ") || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "--offset 2") {
		t.Errorf("ls --limit 1 --offset 1: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	mustCLI(t, 2, "", "--db", db, "ls", "--limit", "-1")
	mustCLI(t, 0, `{"kind":"node","id":"lonely","type":"doc"}`, "--db", db, "import", "-")
	if r := mustCLI(t, 0, "", "--db", db, "--json", "edges", "lonely", "--both"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("edges --json of a node without edges: %q, want []", r.stdout)
	}

	mustCLI(t, 0, "", "--db", db, "rm", "b")
	var changes []resonance.Change
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "history", "--limit", "3"), &changes)
	var got []string
	for _, c := range changes {
		got = append(got, c.Action+" "+c.Entity+" "+c.EntityID)
	}
	if diff := gocmp.Diff([]string{"delete node b", "delete edge b|a|related_to", "delete edge a|b|related_to"}, got); diff != "" {
		t.Errorf("history --limit 3 (-want +got):\n%s", diff)
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "history", "a", "--since", "1h"), &changes)
	if len(changes) != 1 || changes[0].Action != "upsert" {
		t.Errorf("history a --since 1h: %+v", changes)
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "history", "--since", "2999-01-01"), &changes)
	if len(changes) != 0 {
		t.Errorf("history --since the future: %+v", changes)
	}
	mustCLI(t, 2, "", "--db", db, "history", "--since", "yesterday")
	mustCLI(t, 2, "", "--db", db, "history", "a", "b")
}

func TestVersion(t *testing.T) {
	var v versionInfo
	decode(t, mustCLI(t, 0, "", "version", "--json"), &v)
	if v.Version == "" || v.GoSQLite3 == "" || !strings.HasPrefix(v.SQLite, "3.") || !strings.HasSuffix(v.Migration, ".sql") {
		t.Errorf("version: %+v", v)
	}
	if a, b := mustCLI(t, 0, "", "version"), mustCLI(t, 0, "", "--version"); a.stdout != b.stdout || !strings.Contains(a.stdout, "SQLite "+v.SQLite) {
		t.Errorf("version printed %q, --version %q", a.stdout, b.stdout)
	}
}

// TestExport_DOT: the DOT export names every node and edge, and Graphviz,
// where installed, renders it.
func TestExport_DOT(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	g := exportGraph(t, db)
	dot := mustCLI(t, 0, "", "--db", db, "export", "--format", "dot").stdout
	if n := strings.Count(dot, " -> "); n != len(g.edges) {
		t.Errorf("the DOT holds %d edges, want %d", n, len(g.edges))
	}
	for _, id := range g.nodes {
		if !strings.Contains(dot, "\n  "+dotQuote(id)+" [label=") {
			t.Errorf("the DOT has no node %q", id)
			break
		}
	}
	_, ids := g.degrees()
	file := filepath.Join(t.TempDir(), "hub.dot")
	mustCLI(t, 0, "", "--db", db, "export", "--format", "dot", "--root", ids[0], "--depth", "1", file)
	var nb resonance.Neighbourhood
	decode(t, mustCLI(t, 0, "", "--db", db, "--json", "edges", ids[0], "--both", "--depth", "1"), &nb)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), " -> "); n != len(nb.Edges) {
		t.Errorf("the neighbourhood's DOT holds %d edges, want %d", n, len(nb.Edges))
	}
	mustCLI(t, 2, "", "--db", db, "export", "--format", "svg")
	mustCLI(t, 2, "", "--db", db, "export", "--root", ids[0])
	mustCLI(t, 1, "", "--db", db, "export", "--format", "dot", "--root", "no-such-node")
	if _, err := exec.LookPath("dot"); err != nil {
		t.Log("Graphviz is not installed: the DOT is not rendered")
		return
	}
	for _, in := range []string{file, ""} {
		cmd := exec.Command("dot", "-Tsvg")
		if in != "" {
			cmd.Args = append(cmd.Args, in)
		} else {
			cmd.Stdin = strings.NewReader(dot)
		}
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "<svg") {
			t.Errorf("dot -Tsvg %s: %v\n%.500s", in, err, out)
		}
	}
}

// TestShowRm_DamagedEmbedding: a node whose stored embedding is not a
// whole finite float32 vector (another program wrote it) is still shown,
// with the damage said, and can still be removed.
func TestShowRm_DamagedEmbedding(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	mustCLI(t, 0, "", "--db", db, "init")
	mustCLI(t, 0, `{"kind":"node","id":"short","type":"doc","title":"Short"}`+"\n"+
		`{"kind":"node","id":"other","type":"doc"}`+"\n"+
		`{"kind":"edge","source":"other","target":"short"}`+"\n", "--db", db, "import", "-")
	conn, err := resonance.Connect(t.Context(), db, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`UPDATE nodes SET embedding = x'0102030405' WHERE id = 'short'`); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	r := mustCLI(t, 0, "", "--db", db, "show", "short")
	for _, want := range []string{"Short", "damaged", "1 in"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show of a node with a damaged embedding lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustCLI(t, 0, "", "--db", db, "--json", "show", "short")
	var v struct {
		Title          string `json:"title"`
		EmbeddingError string `json:"embedding_error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Title != "Short" || v.EmbeddingError == "" {
		t.Errorf("show --json = %s (%v), want the title and embedding_error", r.stdout, err)
	}
	mustCLI(t, 0, "", "--db", db, "rm", "short")
	mustCLI(t, 1, "", "--db", db, "show", "short")
	if r := mustCLI(t, 0, "", "--db", db, "--json", "edges", "other"); strings.Contains(r.stdout, "short") {
		t.Errorf("the damaged node's edge survived its rm: %s", r.stdout)
	}
}
