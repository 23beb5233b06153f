package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/resonance-graph/resonancedb/resonance"
)

// libWorkloads runs the workloads through the library's public API, the
// code paths its users call.
type libWorkloads struct {
	r  *runner
	s  *resonance.Store
	nb nodeBuf
	wb nodeBuf // the P5 writer's buffers
}

// ctx is the context of every statement: never cancelled (see the package
// documentation).
var ctx = context.Background()

func (w *libWorkloads) open(path string) error {
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		return err
	}
	w.s = s
	return nil
}

func (w *libWorkloads) close() error {
	if w.s == nil {
		return nil
	}
	err := w.s.Close()
	w.s = nil
	return err
}

func (w *libWorkloads) ingest() error {
	d, batch := w.r.data, w.r.cfg.Batch
	nodes := make([]resonance.Node, 0, batch)
	edges := make([]resonance.Edge, 0, batch*d.edges)
	bufs := make([]nodeBuf, batch)
	for lo := 0; lo < d.n; lo += batch {
		hi := min(lo+batch, d.n)
		nodes, edges = nodes[:0], edges[:0]
		for i := lo; i < hi; i++ {
			id := d.ids[i]
			nodes = append(nodes, d.node(&bufs[i-lo], id, i))
			for k := range d.edges {
				target, typ := d.edge(i, k)
				edges = append(edges, resonance.Edge{Source: id, Target: target, Type: typ})
			}
		}
		err := w.s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := tx.UpsertNodes(ctx, nodes); err != nil {
				return err
			}
			return tx.InsertEdges(ctx, edges)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *libWorkloads) checkpointSize() (float64, error) {
	if _, err := w.s.Checkpoint(ctx); err != nil {
		return 0, err
	}
	return fileMiB(w.s.Path())
}

func (w *libWorkloads) verify() error {
	st, err := w.s.Stats(ctx)
	if err != nil {
		return err
	}
	d := w.r.data
	if st.Nodes != int64(d.n) || st.Edges != int64(d.edgeCount()) || st.Vectors != int64(d.n) {
		return fmt.Errorf("the store holds %d nodes, %d edges, %d vectors; want %d, %d, %d",
			st.Nodes, st.Edges, st.Vectors, d.n, d.edgeCount(), d.n)
	}
	return countHistory(w.s.ReadDB(), d.n*(1+d.edges))
}

func (w *libWorkloads) scan() (int, error) {
	nodes, err := w.s.Reads().GetNodes(ctx, resonance.NodeFilter{SkipEmbedding: true})
	return len(nodes), err
}

func (w *libWorkloads) get(i int) error {
	n, err := w.s.Reads().GetNode(ctx, w.r.data.ids[i])
	if err != nil {
		return err
	}
	if len(n.Embedding) != Dim {
		return fmt.Errorf("node %q has %d dimensions, want %d", n.ID, len(n.Embedding), Dim)
	}
	return nil
}

func (w *libWorkloads) outgoing(i int) (int, error) {
	es, err := w.s.Reads().OutgoingEdges(ctx, w.r.data.ids[i])
	return len(es), err
}

func (w *libWorkloads) outgoingOf(ids []string) (int, error) {
	m, err := w.s.Reads().OutgoingEdgesOf(ctx, ids)
	n := 0
	for _, es := range m {
		n += len(es)
	}
	return n, err
}

func (w *libWorkloads) upsertOne(i int) error {
	d := w.r.data
	id := nodeID("w2", i)
	if i < d.n {
		id = d.ids[i] // P5 updates existing nodes
	}
	return w.s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, d.node(&w.wb, id, i)) })
}

func (w *libWorkloads) read(i int) error {
	_, err := w.s.Reads().GetNode(ctx, w.r.data.ids[i])
	if errors.Is(err, resonance.ErrBusy) {
		return errBusy
	}
	return err
}

// errLibBusy is the library's busy error, counted by P5.
var errLibBusy = resonance.ErrBusy
