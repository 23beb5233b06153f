package resonance

import (
	"context"
	"fmt"

	"github.com/resonance-graph/resonancedb/db"
)

// NeighbourhoodOptions shape a Neighbourhood. The zero value follows the
// outgoing edges of every type to depth 1, up to 1,000 nodes.
type NeighbourhoodOptions struct {
	// Depth is how many edges away a node may be: 1 to 6; 0 means 1.
	Depth int
	// Direction is the edges followed: "out" (or empty) from source to
	// target, "in" from target to source, "both" either way.
	Direction string
	// Types, when not empty, follows only edges of these types, and only
	// they are returned.
	Types []string
	// Limit is how many nodes are returned at most, the start included:
	// 0 means 1,000; at most 100,000.
	Limit int
}

// Neighbourhood is what ReadTx.Neighbourhood found.
type Neighbourhood struct {
	// Nodes are the start (distance 0) and each node reached, once, with
	// its shortest distance, ordered by distance and then id.
	Nodes []Reached `json:"nodes"`
	// Edges are the edges among Nodes (of Types, when given), in key order.
	Edges []Edge `json:"edges"`
	// Truncated says that more nodes were within reach than Limit: Nodes
	// holds those nearest the start, by distance and then id.
	Truncated bool `json:"truncated"`
}

// Reached is a node of a Neighbourhood with its distance from the start.
type Reached struct {
	ID       string `json:"id"`
	Distance int    `json:"distance"`
}

const (
	maxNeighbourhoodDepth = 6
	defaultNeighbourhood  = 1000
	maxNeighbourhood      = 100_000
)

// Neighbourhood returns the nodes within o.Depth edges of the node id,
// following the edges o.Direction says, each once with its shortest
// distance, and the edges among them (D12). It reads them with one
// statement, so cycles end at the depth and a hub's answer stops at
// o.Limit (Neighbourhood.Truncated says so). A node reached is an id at
// the end of an edge; edges do not require their nodes, so an id with no
// node may appear.
//
// It returns an error wrapping ErrNotFound when no node has the id, and
// one wrapping ErrInvalid for a depth outside 0–6, an unknown direction,
// or a limit outside 0–100,000.
func (r *ReadTx) Neighbourhood(ctx context.Context, id string, o NeighbourhoodOptions) (Neighbourhood, error) {
	p, err := neighbourhoodParams(id, o)
	if err != nil {
		return Neighbourhood{}, err
	}
	r, done, err := r.enter(ctx)
	if err != nil {
		return Neighbourhood{}, fmt.Errorf("resonance: neighbourhood of %q: %w", id, err)
	}
	defer done()
	rows, err := r.q.Neighbourhood(ctx, p)
	if err != nil {
		return Neighbourhood{}, fmt.Errorf("resonance: neighbourhood of %q: %w", id, classify(err))
	}
	if len(rows) == 0 {
		return Neighbourhood{}, fmt.Errorf("resonance: neighbourhood of %q: %w: no node with this id", id, ErrNotFound)
	}
	nb := Neighbourhood{Nodes: []Reached{}, Edges: []Edge{}}
	var cut string // the node past the limit, which leaves with its edges
	for i := range rows {
		row := &rows[i]
		if row.Kind == 0 {
			if len(nb.Nodes) == int(p.Limit) {
				nb.Truncated, cut = true, row.Source
				continue
			}
			nb.Nodes = append(nb.Nodes, Reached{ID: row.Source, Distance: int(row.Distance)})
			continue
		}
		if nb.Truncated && (row.Source == cut || row.Target == cut) {
			continue
		}
		nb.Edges = append(nb.Edges, Edge{Source: row.Source, Target: row.Target, Type: row.Type,
			Confidence: row.Confidence, Veracity: row.Veracity, ContextSource: row.ContextSource.String})
	}
	return nb, nil
}

// neighbourhoodParams checks o and makes the statement's parameters.
func neighbourhoodParams(id string, o NeighbourhoodOptions) (db.NeighbourhoodParams, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("resonance: neighbourhood of %q: %w: %s", id, ErrInvalid, fmt.Sprintf(format, args...))
	}
	p := db.NeighbourhoodParams{Root: id, MaxDepth: int64(o.Depth), Limit: int64(o.Limit)}
	switch {
	case o.Depth < 0 || o.Depth > maxNeighbourhoodDepth:
		return p, bad("NeighbourhoodOptions.Depth %d is outside 1–%d", o.Depth, maxNeighbourhoodDepth)
	case o.Limit < 0 || o.Limit > maxNeighbourhood:
		return p, bad("NeighbourhoodOptions.Limit %d is outside 1–%d (0 means %d)", o.Limit, maxNeighbourhood, defaultNeighbourhood)
	}
	if p.MaxDepth == 0 {
		p.MaxDepth = 1
	}
	if p.Limit == 0 {
		p.Limit = defaultNeighbourhood
	}
	switch o.Direction {
	case "", "out":
		p.FollowOut = 1
	case "in":
		p.FollowIn = 1
	case "both":
		p.FollowOut, p.FollowIn = 1, 1
	default:
		return p, bad("NeighbourhoodOptions.Direction %q is not \"out\", \"in\" or \"both\"", o.Direction)
	}
	if len(o.Types) > 0 {
		b := []byte{'['}
		for i, t := range o.Types {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		p.Types = string(append(b, ']'))
	}
	return p, nil
}
