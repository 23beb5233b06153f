package resonance_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// bfsNeighbourhood is the reference: a breadth-first walk over edges in
// memory, returning every node within depth of root with its distance, by
// distance then id, and the edges (of types, when given) among them in key
// order.
func bfsNeighbourhood(edges []resonance.Edge, root string, o resonance.NeighbourhoodOptions) resonance.Neighbourhood {
	ok := func(e resonance.Edge) bool { return len(o.Types) == 0 || slices.Contains(o.Types, e.Type) }
	dist := map[string]int{root: 0}
	frontier := []string{root}
	for d := 1; d <= o.Depth; d++ {
		var next []string
		for _, id := range frontier {
			for _, e := range edges {
				if !ok(e) {
					continue
				}
				var to []string
				if o.Direction != "in" && e.Source == id {
					to = append(to, e.Target)
				}
				if o.Direction != "out" && o.Direction != "" && e.Target == id {
					to = append(to, e.Source)
				}
				for _, n := range to {
					if _, seen := dist[n]; !seen {
						dist[n] = d
						next = append(next, n)
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
	for _, e := range edges {
		_, s := dist[e.Source]
		_, t := dist[e.Target]
		if s && t && ok(e) {
			nb.Edges = append(nb.Edges, e)
		}
	}
	slices.SortFunc(nb.Edges, func(a, b resonance.Edge) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Target, b.Target), strings.Compare(a.Type, b.Type))
	})
	return nb
}

// randomGraph writes n nodes and about 2n edges of three types, with
// cycles, self loops and edges both ways, and returns the edges.
func randomGraph(t *testing.T, s *resonance.Store, n int, seed uint64) []resonance.Edge {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var nodes []resonance.Node
	for i := range n {
		nodes = append(nodes, resonance.Node{ID: fmt.Sprintf("n%02d", i), Type: "doc"})
	}
	seen := map[[3]string]bool{}
	var edges []resonance.Edge
	for range 2 * n {
		e := resonance.Edge{Source: nodes[r.IntN(n)].ID, Target: nodes[r.IntN(n)].ID, Type: []string{"a", "b", "c"}[r.IntN(3)],
			Confidence: 1, Veracity: 1}
		if k := [3]string{e.Source, e.Target, e.Type}; !seen[k] {
			seen[k] = true
			edges = append(edges, e)
		}
	}
	err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
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
	if err != nil {
		t.Fatal(err)
	}
	return edges
}

func TestReadTx_Neighbourhood_EqualsBreadthFirstWalk(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	edges := randomGraph(t, s, 40, 7)
	for _, root := range []string{"n00", "n07", "n23", "n39"} {
		for _, dir := range []string{"", "out", "in", "both"} {
			for depth := 1; depth <= 6; depth++ {
				for _, types := range [][]string{nil, {"a"}, {"b", "c"}} {
					o := resonance.NeighbourhoodOptions{Depth: depth, Direction: dir, Types: types}
					got, err := s.Reads().Neighbourhood(ctx, root, o)
					if err != nil {
						t.Fatalf("Neighbourhood(%q, %+v): %v", root, o, err)
					}
					if diff := gocmp.Diff(bfsNeighbourhood(edges, root, o), got); diff != "" {
						t.Errorf("Neighbourhood(%q, %+v) (-bfs +got):\n%s", root, o, diff)
					}
				}
			}
		}
	}
}

func TestReadTx_Neighbourhood_Limit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	// A hub with 60 leaves, each leaf with a leaf of its own: 121 nodes.
	var nodes []resonance.Node
	var edges []resonance.Edge
	nodes = append(nodes, resonance.Node{ID: "hub", Type: "doc"})
	for i := range 60 {
		leaf, far := fmt.Sprintf("l%02d", i), fmt.Sprintf("f%02d", i)
		nodes = append(nodes, resonance.Node{ID: leaf, Type: "doc"}, resonance.Node{ID: far, Type: "doc"})
		edges = append(edges, resonance.Edge{Source: "hub", Target: leaf}, resonance.Edge{Source: leaf, Target: far})
	}
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNodes(ctx, nodes); err != nil {
			return err
		}
		return tx.InsertEdges(ctx, edges)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		depth, limit int
		nodes        int
		truncated    bool
	}{
		{1, 0, 61, false},
		{1, 61, 61, false},
		{1, 60, 60, true},
		{1, 10, 10, true},
		{2, 121, 121, false},
		{2, 120, 120, true},
		{2, 70, 70, true},
		{2, 1, 1, true},
		{2, 0, 121, false},
	} {
		o := resonance.NeighbourhoodOptions{Depth: tc.depth, Limit: tc.limit, Direction: "both"}
		got, err := s.Reads().Neighbourhood(ctx, "hub", o)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Nodes) != tc.nodes || got.Truncated != tc.truncated {
			t.Errorf("%+v: %d nodes, truncated %v; want %d, %v", o, len(got.Nodes), got.Truncated, tc.nodes, tc.truncated)
		}
		// What comes is right: the nearest nodes at their distances, and
		// every edge among them.
		full := bfsNeighbourhood(edgesWithDefaults(edges), "hub", resonance.NeighbourhoodOptions{Depth: tc.depth, Direction: "both"})
		in := map[string]bool{}
		last := 0
		for _, n := range got.Nodes {
			in[n.ID] = true
			if !slices.Contains(full.Nodes, n) || n.Distance < last {
				t.Errorf("%+v: node %+v is not at its distance or out of order", o, n)
			}
			last = n.Distance
		}
		for _, n := range full.Nodes {
			if n.Distance < last && !in[n.ID] {
				t.Errorf("%+v: %+v left out while farther nodes came", o, n)
			}
		}
		var want []resonance.Edge
		for _, e := range full.Edges {
			if in[e.Source] && in[e.Target] {
				want = append(want, e)
			}
		}
		if diff := gocmp.Diff(want, got.Edges, cmpEmpty); diff != "" {
			t.Errorf("%+v: edges (-want +got):\n%s", o, diff)
		}
	}
}

var cmpEmpty = gocmp.Comparer(func(a, b []resonance.Edge) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) })

func edgesWithDefaults(edges []resonance.Edge) []resonance.Edge {
	out := slices.Clone(edges)
	for i := range out {
		out[i].Type, out[i].Confidence, out[i].Veracity = cmp.Or(out[i].Type, "related_to"), 1, 1
	}
	return out
}

func TestReadTx_Neighbourhood_Errors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	mustUpsert(t, s, resonance.Node{ID: "alone", Type: "doc"})
	got, err := s.Reads().Neighbourhood(ctx, "alone", resonance.NeighbourhoodOptions{})
	if err != nil || len(got.Nodes) != 1 || got.Nodes[0] != (resonance.Reached{ID: "alone"}) || len(got.Edges) != 0 || got.Truncated {
		t.Errorf("Neighbourhood of a node without edges: %+v, %v", got, err)
	}
	if _, err := s.Reads().Neighbourhood(ctx, "missing", resonance.NeighbourhoodOptions{}); !errors.Is(err, resonance.ErrNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Neighbourhood of a missing node: %v, want ErrNotFound naming it", err)
	}
	for _, o := range []resonance.NeighbourhoodOptions{{Depth: -1}, {Depth: 7}, {Direction: "up"}, {Limit: -1}, {Limit: 100_001}} {
		if _, err := s.Reads().Neighbourhood(ctx, "alone", o); !errors.Is(err, resonance.ErrInvalid) {
			t.Errorf("Neighbourhood(%+v): %v, want ErrInvalid", o, err)
		}
	}
}
