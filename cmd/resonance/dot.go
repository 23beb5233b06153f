package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/resonance-graph/resonancedb/internal/output"
	"github.com/resonance-graph/resonancedb/resonance"
)

// domainColors fill the nodes of each domain, in the order of the domains'
// names; past the last they repeat.
var domainColors = []string{"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"}

// dotGraph is what export --format dot draws.
type dotGraph struct {
	nodes []resonance.Node // without embeddings
	edges []resonance.Edge
}

// readDOT reads the whole graph, or with root the neighbourhood of root
// within depth edges both ways (at most limit nodes: truncated says it
// cut), in one snapshot.
func readDOT(ctx context.Context, s *resonance.Store, root string, depth, limit int) (g dotGraph, truncated bool, err error) {
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		if root == "" {
			nodes, err := r.GetNodes(ctx, resonance.NodeFilter{SkipEmbedding: true})
			if err != nil {
				return err
			}
			g.nodes = nodes
			rows, err := r.QueryContext(ctx, edgesQuery)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var ed resonance.Edge
				if err := rows.Scan(&ed.Source, &ed.Target, &ed.Type, &ed.Confidence, &ed.Veracity, &ed.ContextSource); err != nil {
					return err
				}
				g.edges = append(g.edges, ed)
			}
			return rows.Err()
		}
		nb, err := r.Neighbourhood(ctx, root, resonance.NeighbourhoodOptions{Depth: depth, Direction: "both", Limit: limit})
		if err != nil {
			return err
		}
		truncated = nb.Truncated
		g.edges = nb.Edges
		for _, n := range nb.Nodes {
			node, err := r.GetNode(ctx, n.ID)
			if errors.Is(err, resonance.ErrNotFound) {
				node = resonance.Node{ID: n.ID} // the end of an edge, without a node
			} else if err != nil {
				return err
			}
			node.Embedding = nil
			g.nodes = append(g.nodes, node)
		}
		return nil
	})
	return g, truncated, err
}

// writeDOT writes g as a Graphviz digraph: each node labelled by its title
// (its id when it has none) and filled with its domain's colour, each edge
// labelled by its type. An edge's end that is no node is drawn dashed.
func writeDOT(out io.Writer, g dotGraph) error {
	w := bufio.NewWriter(out)
	var domains []string
	known := make(map[string]bool, len(g.nodes))
	for _, n := range g.nodes {
		known[n.ID] = true
		if !slices.Contains(domains, n.Domain) {
			domains = append(domains, n.Domain)
		}
	}
	slices.Sort(domains)
	fmt.Fprintln(w, "digraph resonance {")
	fmt.Fprintln(w, `  graph [rankdir=LR, fontname="Helvetica"];`)
	fmt.Fprintln(w, `  node [shape=box, style="rounded,filled", fontname="Helvetica"];`)
	fmt.Fprintln(w, `  edge [fontname="Helvetica", fontsize=10];`)
	for _, n := range g.nodes {
		if n.Type == "" { // an edge's end without a node
			fmt.Fprintf(w, "  %s [label=%s, style=\"rounded,dashed\"];\n", dotQuote(n.ID), dotQuote(n.ID))
			continue
		}
		label := n.Title
		if label == "" {
			label = n.ID
		}
		color := domainColors[slices.Index(domains, n.Domain)%len(domainColors)]
		fmt.Fprintf(w, "  %s [label=%s, fillcolor=%s, tooltip=%s];\n", dotQuote(n.ID), dotQuote(label), dotQuote(color), dotQuote(n.Domain+": "+n.ID))
	}
	for _, ed := range g.edges {
		for _, end := range []string{ed.Source, ed.Target} {
			if !known[end] {
				known[end] = true
				fmt.Fprintf(w, "  %s [label=%s, style=\"rounded,dashed\"];\n", dotQuote(end), dotQuote(end))
			}
		}
		fmt.Fprintf(w, "  %s -> %s [label=%s];\n", dotQuote(ed.Source), dotQuote(ed.Target), dotQuote(ed.Type))
	}
	if len(domains) > 0 {
		// A legend: one box per domain in its colour.
		fmt.Fprintln(w, "  subgraph cluster_legend {")
		fmt.Fprintln(w, `    label="domains"; style=dashed;`)
		for i, d := range domains {
			fmt.Fprintf(w, "    %s [label=%s, fillcolor=%s];\n", dotQuote(fmt.Sprintf("__legend_%d", i)), dotQuote(d), dotQuote(domainColors[i%len(domainColors)]))
		}
		fmt.Fprintln(w, "  }")
	}
	fmt.Fprintln(w, "}")
	return w.Flush()
}

// dotQuote quotes s as a DOT string: quotes and backslashes escaped, line
// breaks as \n.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(s) + `"`
}

// exportDOT is export --format dot: it writes the graph, or the
// neighbourhood of root, to cw, which writes to file (nil for stdout).
func exportDOT(e *env, s *resonance.Store, cw *countingWriter, file *output.File, name, root string, depth int) error {
	g, truncated, err := readDOT(e.ctx, s, root, depth, 0)
	if err != nil {
		return fmt.Errorf("resonance: export %q: %w", s.Path(), bare(err))
	}
	err = writeDOT(cw, g)
	if cw.err != nil && file == nil {
		return fmt.Errorf("resonance: export: writing to stdout: %w", cw.err)
	}
	if cw.err != nil {
		return writeFailure("export", name, cw.err)
	}
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Commit(); err != nil {
			return writeFailure("export", name, err)
		}
	}
	if truncated {
		fmt.Fprintf(e.stderr, "resonance export: more than %s within depth %d of %q: the nearest are drawn\n", plural(int64(len(g.nodes)), "node"), depth, root)
	}
	res := exportResult{DB: s.Path(), File: name, Nodes: int64(len(g.nodes)), Edges: int64(len(g.edges)), Bytes: cw.n}
	switch {
	case name == "-":
	case e.json:
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	default:
		fmt.Fprintf(e.stdout, "exported %s and %s from %s to %s as Graphviz DOT (%s)\n",
			plural(res.Nodes, "node"), plural(res.Edges, "edge"), res.DB, name, humanBytes(res.Bytes))
	}
	return s.Close()
}
