package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The commands that look at the graph and change it: show, ls, edges, rm
// and history.

const showHelp = "Show one node: its fields, whether it has an embedding, and how many edges go out and in.\n\n" +
	"Exits 1 when no node has the id."

// nodeView is what show prints with --json.
type nodeView struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Title        string          `json:"title"`
	Domain       string          `json:"domain"`
	Layer        string          `json:"layer"`
	Date         string          `json:"date"`
	Hash         string          `json:"hash"`
	Summary      string          `json:"summary"`
	Meta         json.RawMessage `json:"meta"`
	EmbeddingDim int             `json:"embedding_dim"` // 0: none
	// EmbeddingError says why a stored embedding could not be read (not a
	// whole finite float32 vector); the rest of the node is shown.
	EmbeddingError string `json:"embedding_error,omitempty"`
	EdgesOut       int    `json:"edges_out"`
	EdgesIn        int    `json:"edges_in"`
}

// damagedEmbedding reports whether GetNode returned node n without its
// stored embedding, which is not a whole finite float32 vector: the node
// exists, and err says what is wrong with the embedding.
func damagedEmbedding(n resonance.Node, err error) bool {
	return errors.Is(err, resonance.ErrInvalid) && n.ID != ""
}

func runShow(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 {
		return usagef("want one node ID")
	}
	id := fs.Arg(0)
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	var v nodeView
	err = s.Read(e.ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		n, err := r.GetNode(ctx, id)
		switch {
		case errors.Is(err, resonance.ErrNotFound):
			return fmt.Errorf("resonance: show: %w: no node %q", resonance.ErrNotFound, id)
		case damagedEmbedding(n, err):
			v.EmbeddingError = err.Error() // the rest of the node is shown
		case err != nil:
			return err
		}
		out, err := r.OutgoingEdges(ctx, id)
		if err != nil {
			return err
		}
		in, err := r.IncomingEdges(ctx, id)
		if err != nil {
			return err
		}
		v = nodeView{ID: n.ID, Type: n.Type, Title: n.Title, Domain: n.Domain, Layer: n.Layer, Date: n.Date,
			Hash: n.Hash, Summary: n.Summary, Meta: n.Meta, EmbeddingDim: len(n.Embedding), EmbeddingError: v.EmbeddingError,
			EdgesOut: len(out), EdgesIn: len(in)}
		return nil
	})
	if err != nil {
		return err
	}
	if e.json {
		if v.Meta == nil {
			v.Meta = json.RawMessage("null")
		}
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, oneLine(val))
		}
	}
	row("id", v.ID)
	row("title", v.Title)
	row("type", v.Type)
	row("domain", v.Domain)
	row("layer", v.Layer)
	row("date", v.Date)
	row("hash", v.Hash)
	row("summary", v.Summary)
	row("meta", string(v.Meta))
	emb := "none"
	switch {
	case v.EmbeddingError != "":
		emb = "damaged: not a whole finite float32 vector (`resonance doctor` says how to fix it)"
	case v.EmbeddingDim > 0:
		emb = fmt.Sprintf("%d floats", v.EmbeddingDim)
	}
	row("embedding", emb)
	row("edges", fmt.Sprintf("%d out, %d in", v.EdgesOut, v.EdgesIn))
	if err := tw.Flush(); err != nil {
		return err
	}
	return s.Close()
}

const lsHelp = "List nodes in the order they were first written: id, type, domain and title, one a line.\n\n" +
	"--domain and --type filter; --limit and --offset page through the list (--limit 0: all).\n" +
	"When more nodes follow the page, a note on stderr gives the --offset of the next one."

// maxList bounds --limit and --offset of ls, edges and history (O5);
// maxNeighbourhood is the library's bound on a neighbourhood's nodes.
const (
	maxList          = 1_000_000_000
	maxNeighbourhood = 100_000
)

func lsFlags(fs *flag.FlagSet) {
	fs.String("domain", "", "only nodes of `DOMAIN`")
	fs.String("type", "", "only nodes of `TYPE`")
	fs.Int("limit", 100, "list at most `N` nodes (0: all)")
	fs.Int("offset", 0, "skip the first `N` nodes")
}

// listFlags reads --limit and --offset, each 0 to maxList.
func listFlags(fs *flag.FlagSet) (limit, offset int, err error) {
	limit, offset = intFlag(fs, "limit"), intFlag(fs, "offset")
	if limit < 0 || limit > maxList {
		return 0, 0, usagef("--limit is %d: want 0 (all) to %d", limit, maxList)
	}
	if offset < 0 || offset > maxList {
		return 0, 0, usagef("--offset is %d: want 0 to %d", offset, maxList)
	}
	return limit, offset, nil
}

// listedNode is a node as ls prints it with --json.
type listedNode struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Domain string `json:"domain"`
	Layer  string `json:"layer"`
	Title  string `json:"title"`
	Date   string `json:"date"`
}

func runLs(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	limit, offset, err := listFlags(fs)
	if err != nil {
		return err
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	f := resonance.NodeFilter{Domain: stringFlag(fs, "domain"), Type: stringFlag(fs, "type"), Offset: offset, SkipEmbedding: true}
	if limit > 0 {
		f.Limit = limit + 1 // one more tells whether a page follows
	}
	nodes, err := s.Reads().GetNodes(e.ctx, f)
	if err != nil {
		return err
	}
	more := limit > 0 && len(nodes) > limit
	if more {
		nodes = nodes[:limit]
	}
	list := make([]listedNode, len(nodes))
	for i, n := range nodes {
		list[i] = listedNode{n.ID, n.Type, n.Domain, n.Layer, n.Title, n.Date}
	}
	if e.json {
		return writeJSON(e.stdout, list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, n := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneLine(n.ID), oneLine(n.Type), oneLine(n.Domain), oneLine(n.Title))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(e.stderr, "more nodes follow: --offset %d for the next %d\n", offset+limit, limit)
	}
	return s.Close()
}

const edgesHelp = "List the edges of a node, or with --depth its neighbourhood (D12).\n\n" +
	"Without --depth: the node's outgoing edges (--in incoming, --both both), one a line as\n" +
	"SOURCE -> TARGET [TYPE] with confidence and veracity; --limit N shows the first N.\n" +
	"With --depth N (1 to 6): every node within N edges, following the same directions, each once\n" +
	"with its shortest distance, then the edges among them; --limit N caps the nodes (default\n" +
	"1,000, at most 100,000), and a note says when it cut. --type T follows only edges of type T\n" +
	"(repeat it for several). With --json: the edges as a list; with --depth an object with\n" +
	"\"nodes\" (each an id and its distance), \"edges\" and \"truncated\".\n" +
	"Exits 1 when no node has the id and no edge touches it."

// typeList is a repeatable --type.
type typeList []string

func (t *typeList) String() string { return strings.Join(*t, ",") }
func (t *typeList) Set(v string) error {
	if v == "" {
		return errors.New("empty type")
	}
	*t = append(*t, v)
	return nil
}

func edgesFlags(fs *flag.FlagSet) {
	fs.Bool("in", false, "follow incoming edges instead of outgoing ones")
	fs.Bool("both", false, "follow edges both ways")
	fs.Var(&typeList{}, "type", "only edges of `TYPE`; repeat it for several")
	fs.Int("depth", 0, "the neighbourhood within `N` edges (1 to 6) instead of the node's own edges")
	fs.Int("limit", 0, "at most `N` edges; with --depth at most N nodes (default 1,000)")
}

func runEdges(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 {
		return usagef("want one node ID")
	}
	id := fs.Arg(0)
	dir := "out"
	switch in, both := boolFlag(fs, "in"), boolFlag(fs, "both"); {
	case in && both:
		return usagef("give --in or --both, not both")
	case in:
		dir = "in"
	case both:
		dir = "both"
	}
	types := []string(*fs.Lookup("type").Value.(*typeList))
	depth, limit := intFlag(fs, "depth"), intFlag(fs, "limit")
	if depth < 0 || depth > 6 {
		return usagef("--depth is %d: want 1 to 6", depth)
	}
	if maxLimit := maxList; limit < 0 || limit > maxLimit || depth > 0 && limit > maxNeighbourhood {
		if depth > 0 {
			maxLimit = maxNeighbourhood
		}
		return usagef("--limit is %d: want 0 (the default) to %d", limit, maxLimit)
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if depth > 0 {
		nb, err := s.Reads().Neighbourhood(e.ctx, id, resonance.NeighbourhoodOptions{Depth: depth, Direction: dir, Types: types, Limit: limit})
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, nb)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		for _, n := range nb.Nodes {
			fmt.Fprintf(tw, "%d\t%s\n", n.Distance, oneLine(n.ID))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(nb.Edges) > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := printEdges(e.stdout, nb.Edges); err != nil {
			return err
		}
		if nb.Truncated {
			fmt.Fprintf(e.stderr, "resonance edges: more than %s within depth %d: the nearest are shown; raise --limit for more\n",
				plural(int64(len(nb.Nodes)), "node"), depth)
		}
		return s.Close()
	}
	edges := []resonance.Edge{}
	err = s.Read(e.ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		if dir != "in" {
			out, err := r.OutgoingEdges(ctx, id)
			if err != nil {
				return err
			}
			edges = append(edges, out...)
		}
		if dir != "out" {
			in, err := r.IncomingEdges(ctx, id)
			if err != nil {
				return err
			}
			for _, ed := range in {
				if dir == "both" && ed.Source == id {
					continue // a loop, listed already
				}
				edges = append(edges, ed)
			}
		}
		if len(edges) == 0 {
			if _, err := r.GetNode(ctx, id); errors.Is(err, resonance.ErrNotFound) {
				return fmt.Errorf("resonance: edges: %w: no node %q, and no edge touches it", resonance.ErrNotFound, id)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	kept := edges[:0]
	for _, ed := range edges {
		if len(types) == 0 || contains(types, ed.Type) {
			kept = append(kept, ed)
		}
	}
	edges = kept
	if limit > 0 && len(edges) > limit {
		edges = edges[:limit]
	}
	if e.json {
		return writeJSON(e.stdout, edges)
	}
	if err := printEdges(e.stdout, edges); err != nil {
		return err
	}
	return s.Close()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// printEdges writes edges one a line: source -> target [type], then
// confidence, veracity and context source.
func printEdges(w io.Writer, edges []resonance.Edge) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ed := range edges {
		fmt.Fprintf(tw, "%s -> %s\t[%s]\t%g\t%g\t%s\n", oneLine(ed.Source), oneLine(ed.Target), oneLine(ed.Type), ed.Confidence, ed.Veracity, oneLine(ed.ContextSource))
	}
	return tw.Flush()
}

const rmHelp = "Delete nodes with every edge that touches them, or with --edge one edge (D11).\n\n" +
	"`rm ID...` deletes the nodes and their edges, both ways, in one transaction; `rm --edge SOURCE\n" +
	"TARGET TYPE` deletes that one edge. Each removal writes its history row (action delete, the\n" +
	"old value). An id or edge that does not exist exits 1, naming it, and nothing is deleted.\n" +
	"--dry-run lists what would go and changes nothing."

func rmFlags(fs *flag.FlagSet) {
	fs.Bool("edge", false, "delete the one edge SOURCE TARGET TYPE instead of nodes")
	fs.Bool("dry-run", false, "list what would be deleted, and delete nothing")
}

// rmResult is what rm prints with --json.
type rmResult struct {
	DryRun bool             `json:"dry_run"`
	Nodes  []string         `json:"nodes"`
	Edges  []resonance.Edge `json:"edges"`
}

func runRm(e *env, fs *flag.FlagSet) error {
	edge, dry := boolFlag(fs, "edge"), boolFlag(fs, "dry-run")
	switch {
	case edge && fs.NArg() != 3:
		return usagef("--edge wants SOURCE TARGET TYPE")
	case !edge && fs.NArg() == 0:
		return usagef("want at least one node ID, or --edge SOURCE TARGET TYPE")
	}
	s, err := openStore(e, resonance.Options{ReadOnly: dry})
	if err != nil {
		return err
	}
	defer s.Close()
	res := rmResult{DryRun: dry, Nodes: []string{}, Edges: []resonance.Edge{}}
	// plan reads what the delete removes, in the transaction that deletes
	// it: the nodes, each once, and every edge that touches them, once.
	plan := func(ctx context.Context, r *resonance.ReadTx) error {
		if edge {
			src, dst, typ := fs.Arg(0), fs.Arg(1), fs.Arg(2)
			out, err := r.OutgoingEdges(ctx, src)
			if err != nil {
				return err
			}
			for _, ed := range out {
				if ed.Target == dst && ed.Type == typ {
					res.Edges = append(res.Edges, ed)
					return nil
				}
			}
			return fmt.Errorf("resonance: rm --edge: %w: no edge %q -> %q [%s]; nothing was deleted", resonance.ErrNotFound, src, dst, typ)
		}
		seen := map[string]bool{}
		type key struct{ s, t, ty string }
		seenEdge := map[key]bool{}
		for _, id := range fs.Args() {
			if seen[id] {
				continue
			}
			seen[id] = true
			// A node whose stored embedding is damaged is still removed.
			if n, err := r.GetNode(ctx, id); errors.Is(err, resonance.ErrNotFound) {
				return fmt.Errorf("resonance: rm: %w: no node %q; nothing was deleted", resonance.ErrNotFound, id)
			} else if err != nil && !damagedEmbedding(n, err) {
				return err
			}
			res.Nodes = append(res.Nodes, id)
			out, err := r.OutgoingEdges(ctx, id)
			if err != nil {
				return err
			}
			in, err := r.IncomingEdges(ctx, id)
			if err != nil {
				return err
			}
			for _, ed := range append(out, in...) {
				if k := (key{ed.Source, ed.Target, ed.Type}); !seenEdge[k] {
					seenEdge[k] = true
					res.Edges = append(res.Edges, ed)
				}
			}
		}
		return nil
	}
	if dry {
		err = s.Read(e.ctx, plan)
	} else {
		err = s.Tx(e.ctx, func(ctx context.Context, tx *resonance.Tx) error {
			if err := plan(ctx, &tx.ReadTx); err != nil {
				return err
			}
			if edge {
				return tx.DeleteEdge(ctx, fs.Arg(0), fs.Arg(1), fs.Arg(2))
			}
			return tx.DeleteNodes(ctx, res.Nodes...)
		})
	}
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, res)
	}
	verb := "deleted"
	if dry {
		verb = "would delete"
	}
	for _, id := range res.Nodes {
		fmt.Fprintf(e.stdout, "%s node %s\n", verb, oneLine(id))
	}
	for _, ed := range res.Edges {
		fmt.Fprintf(e.stdout, "%s edge %s -> %s [%s]\n", verb, oneLine(ed.Source), oneLine(ed.Target), oneLine(ed.Type))
	}
	if !edge {
		fmt.Fprintf(e.stdout, "%s %s and %s\n", verb, plural(int64(len(res.Nodes)), "node"), plural(int64(len(res.Edges)), "edge"))
	}
	return s.Close()
}

const historyHelp = "Show the history of the graph, newest first: every change, or with ID one node's (D13).\n\n" +
	"Each line: the change's number, when it was committed (UTC), the action, the entity and\n" +
	"its id. --since takes a time (2026-12-07, 2026-12-07T10:00:00Z, \"2026-12-07 10:00:00\" in UTC)\n" +
	"or a duration back from now (90m, 24h). --json prints the changes with their old and new values."

func historyFlags(fs *flag.FlagSet) {
	fs.String("since", "", "only changes at or after `TIME` (a date, an RFC 3339 time, or a duration ago such as 24h)")
	fs.Int("limit", 20, "show at most `N` changes (0: all)")
	fs.Int("offset", 0, "skip the newest `N` changes")
}

// parseSince reads --since.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, usagef("--since %s: a duration back from now must not be negative", v)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--since %q is neither a time (2026-12-07, 2026-12-07T10:00:00Z) nor a duration (24h)", v)
}

func runHistory(e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 1 {
		return usagef("want at most one node ID")
	}
	limit, offset, err := listFlags(fs)
	if err != nil {
		return err
	}
	f := resonance.HistoryFilter{NodeID: fs.Arg(0), Limit: limit, Offset: offset}
	if v := stringFlag(fs, "since"); v != "" {
		if f.Since, err = parseSince(v, time.Now()); err != nil {
			return err
		}
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	var changes []resonance.Change
	err = s.Read(e.ctx, func(ctx context.Context, r *resonance.ReadTx) (err error) {
		changes, err = r.History(ctx, f)
		return err
	})
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, changes)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, c := range changes {
		when := "?"
		if !c.Time.IsZero() {
			when = c.Time.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.ID, when, oneLine(c.Action), oneLine(c.Entity), oneLine(c.EntityID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return s.Close()
}
