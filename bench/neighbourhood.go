package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/resonance-graph/resonancedb/resonance"
)

// P9 walks neighbourhoods: depth 2 and 3, both directions, from every node
// of the example graph (P9a, P9b) and hubWalks times from the node of P1's
// graph with the most edges (P9c, P9d). The library reads each with
// Store.Reads().Neighbourhood, one recursive statement; the baseline walks the
// same graph the naive way, breadth first with prepared statements in a
// read transaction: a query for the outgoing and one for the incoming
// edges of each node it reaches, then one for the outgoing edges of each
// node reached, for the edges among them. Both return every node within
// reach (the library's limit is raised above the graph's size), and the
// run fails unless they find the same nodes and edges.

// hubWalks is how many times P9c and P9d walk from P1's hub.
const hubWalks = 50

// p9Chunk is how many walks run on one side before the other's turn.
const p9Chunk = 10

// p9Limit is the library's node limit in P9: above any graph the bench
// makes, so that both sides return the whole neighbourhood.
const p9Limit = 100_000

// neighbourhoods runs P9 on the example graph, in a fresh database at
// a path of its own, and on the P1 databases (libStore and basePath).
func (r *runner) neighbourhoods(rep int, order []side, libStore *resonance.Store, basePath string, s [2]sample) error {
	path := r.freshPath("p9", lib)
	defer removeDB(path)
	ids, err := loadExample(path, r.cfg.Example)
	if err != nil {
		return fmt.Errorf("example graph: %w", err)
	}
	ex, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		return err
	}
	defer ex.Close()
	exNaive, err := newNaiveWalk(path)
	if err != nil {
		return err
	}
	defer exNaive.close()
	hubNaive, err := newNaiveWalk(basePath)
	if err != nil {
		return err
	}
	defer hubNaive.close()
	hub := r.data.hub()
	hubs := make([]string, hubWalks)
	for i := range hubs {
		hubs[i] = hub
	}
	for _, st := range []struct {
		name  string
		depth int
		roots []string
		store *resonance.Store
		naive *naiveWalk
	}{
		{"P9a", 2, ids, ex, exNaive},
		{"P9b", 3, ids, ex, exNaive},
		{"P9c", 2, hubs, libStore, hubNaive},
		{"P9d", 3, hubs, libStore, hubNaive},
	} {
		r.progress("rep %d/%d: %s neighbourhood depth %d ×%d", rep+1, r.cfg.Reps, st.name, st.depth, len(st.roots))
		var found [2][2]int // per side: nodes and edges in all
		chunks := (len(st.roots) + p9Chunk - 1) / p9Chunk
		el, err := interleave(st.name, order, chunks, func(sd side, k int) error {
			for _, root := range st.roots[k*p9Chunk : min((k+1)*p9Chunk, len(st.roots))] {
				var n, e int
				if sd == lib {
					nb, err := st.store.Reads().Neighbourhood(ctx, root, resonance.NeighbourhoodOptions{Depth: st.depth, Direction: "both", Limit: p9Limit})
					if err != nil {
						return err
					}
					n, e = len(nb.Nodes), len(nb.Edges)
				} else {
					var err error
					if n, e, err = st.naive.walk(root, st.depth); err != nil {
						return err
					}
				}
				found[sd][0] += n
				found[sd][1] += e
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		if found[lib] != found[base] {
			return fmt.Errorf("%s: the library found %d nodes and %d edges in all, the naive walk %d and %d",
				st.name, found[lib][0], found[lib][1], found[base][0], found[base][1])
		}
		for _, sd := range order {
			s[sd][st.name] = usPer(el[sd], len(st.roots))
		}
		for _, sd := range order {
			s[sd][st.name+"_nodes"] = float64(found[sd][0]) / float64(len(st.roots))
		}
	}
	return nil
}

// loadExample writes the example graph (JSON Lines, as `resonance import`
// reads them) into a new database at path and returns its node ids.
func loadExample(path string, graph []byte) ([]string, error) {
	if len(graph) == 0 {
		return nil, fmt.Errorf("no example graph given (Config.Example)")
	}
	var nodes []resonance.Node
	var edges []resonance.Edge
	sc := bufio.NewScanner(bytes.NewReader(graph))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l struct {
			Kind, ID, Type, Title, Domain, Source, Target string
			Confidence, Veracity                          float64
			ContextSource                                 string `json:"context_source"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, err
		}
		switch l.Kind {
		case "node":
			nodes = append(nodes, resonance.Node{ID: l.ID, Type: l.Type, Title: l.Title, Domain: l.Domain})
		case "edge":
			edges = append(edges, resonance.Edge{Source: l.Source, Target: l.Target, Type: l.Type,
				Confidence: l.Confidence, Veracity: l.Veracity, ContextSource: l.ContextSource})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		return nil, err
	}
	err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNodes(ctx, nodes); err != nil {
			return err
		}
		for _, e := range edges {
			if err := tx.UpsertSemanticEdge(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	ids := make([]string, len(nodes))
	for i := range nodes {
		ids[i] = nodes[i].ID
	}
	return ids, err
}

// hub returns the id of P1's node with the most edges, in and out (the
// first of equals).
func (d *data) hub() string {
	deg := make(map[string]int, d.n)
	for i := range d.n {
		for k := range d.edges {
			t, _ := d.edge(i, k)
			deg[d.ids[i]]++
			deg[t]++
		}
	}
	best := d.ids[0]
	for _, id := range d.ids {
		if deg[id] > deg[best] {
			best = id
		}
	}
	return best
}

// naiveWalk is the baseline of P9: a breadth-first walk with a query per
// node, on a connection of its own whose transactions begin deferred, as
// reads do.
type naiveWalk struct {
	db                  *sql.DB
	exists, out, in     *sql.Stmt
	dist                map[string]int
	frontier, next, ids []string
}

func newNaiveWalk(path string) (*naiveWalk, error) {
	db, err := sql.Open(baselineDriver, strings.Replace(baselineDSN(path), "_txlock=immediate", "_txlock=deferred", 1))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	w := &naiveWalk{db: db, dist: map[string]int{}}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&w.exists, `SELECT 1 FROM nodes WHERE id = ?`},
		{&w.out, `SELECT target, type, confidence, veracity, context_source FROM edges WHERE source = ?`},
		{&w.in, `SELECT source, type, confidence, veracity, context_source FROM edges WHERE target = ?`},
	} {
		if *p.st, err = db.Prepare(p.sql); err != nil {
			db.Close()
			return nil, err
		}
	}
	return w, nil
}

func (w *naiveWalk) close() error { return w.db.Close() }

// walk returns how many nodes are within depth of root, both ways, root
// included, and how many edges are among them.
func (w *naiveWalk) walk(root string, depth int) (nodes, edges int, err error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback() // it only read
	var one int
	if err := tx.Stmt(w.exists).QueryRow(root).Scan(&one); err != nil {
		return 0, 0, fmt.Errorf("root %q: %w", root, err)
	}
	out, in := tx.Stmt(w.out), tx.Stmt(w.in)
	clear(w.dist)
	w.dist[root] = 0
	w.frontier = append(w.frontier[:0], root)
	w.ids = append(w.ids[:0], root)
	var e baseEdge
	for d := 1; d <= depth; d++ {
		w.next = w.next[:0]
		for _, id := range w.frontier {
			for _, st := range []*sql.Stmt{out, in} {
				rows, err := st.Query(id)
				if err != nil {
					return 0, 0, err
				}
				for rows.Next() {
					if err := rows.Scan(&e.Target, &e.Type, &e.Confidence, &e.Veracity, &e.ContextSource); err != nil {
						rows.Close()
						return 0, 0, err
					}
					if _, seen := w.dist[e.Target]; !seen {
						w.dist[e.Target] = d
						w.next = append(w.next, e.Target)
						w.ids = append(w.ids, e.Target)
					}
				}
				if err := rows.Close(); err != nil {
					return 0, 0, err
				}
			}
		}
		w.frontier, w.next = w.next, w.frontier
	}
	for _, id := range w.ids {
		rows, err := out.Query(id)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			if err := rows.Scan(&e.Target, &e.Type, &e.Confidence, &e.Veracity, &e.ContextSource); err != nil {
				rows.Close()
				return 0, 0, err
			}
			if _, ok := w.dist[e.Target]; ok {
				edges++
			}
		}
		if err := rows.Close(); err != nil {
			return 0, 0, err
		}
	}
	return len(w.ids), edges, nil
}
