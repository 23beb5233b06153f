package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/resonance-graph/resonancedb/resonance"
)

// maxVectorFile bounds what --vector reads: a 384-float query is about
// 8 KiB of JSON, and 1 MiB holds tens of thousands of floats.
const maxVectorFile = 1 << 20

// maxK bounds --k: SearchByVector keeps at most as many hits as the graph
// has nodes, and --like asks for one more than --k.
const maxK = 100_000_000

const searchHelp = "Find the nodes whose embeddings score highest against a query vector (D10).\n\n" +
	"The query is a JSON array of numbers read from --vector FILE (- for standard input), or the\n" +
	"embedding of the node --like ID, which is then left out of the hits. Each node with an\n" +
	"embedding of the query's dimension is scored by the dot product (0 when either magnitude is\n" +
	"below 1e-6); scores above 0 (and at least --min-score) come highest first, ties in insertion\n" +
	"order. Embeddings of another dimension are skipped and counted. On a terminal the hits are\n" +
	"a table; otherwise one line per hit: score, id, title and date separated by tabs."

func searchFlags(fs *flag.FlagSet) {
	fs.String("vector", "", "read the query vector, a JSON array of numbers, from `FILE` (- for standard input)")
	fs.String("like", "", "search with the embedding of the node `ID`, leaving it out of the hits")
	fs.Int("k", 5, "return at most `N` hits")
	fs.String("domain", "", "only nodes of `DOMAIN`")
	fs.String("type", "", "only nodes of `TYPE`")
	fs.Float64("min-score", 0, "only hits scoring at least `SCORE` (hits always score above 0)")
}

// searchResult is what search prints with --json.
type searchResult struct {
	DB string `json:"db"`
	resonance.SearchResult
}

func runSearch(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	vectorFile, like := stringFlag(fs, "vector"), stringFlag(fs, "like")
	if (vectorFile == "") == (like == "") {
		return usagef("give the query as either --vector FILE or --like ID")
	}
	k := intFlag(fs, "k")
	if k < 1 {
		return usagef("--k is %d: want at least 1", k)
	}
	if k > maxK {
		return usagef("--k is %d: want at most %d", k, maxK)
	}
	minScore := fs.Lookup("min-score").Value.(flag.Getter).Get().(float64)
	if math.IsNaN(minScore) {
		return usagef("--min-score is NaN: want a number")
	}
	o := resonance.SearchOptions{K: k, Domain: stringFlag(fs, "domain"), Type: stringFlag(fs, "type"), MinScore: minScore}
	var query []float32
	if vectorFile != "" {
		var err error
		if query, err = readVector(e, vectorFile); err != nil {
			return err
		}
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	if like != "" {
		n, err := s.Reads().GetNode(e.ctx, like)
		if err != nil {
			return err
		}
		if len(n.Embedding) == 0 {
			return fmt.Errorf("resonance search: node %q has no embedding: there is nothing to search like it; use --vector", like)
		}
		query = n.Embedding
		o.K++ // the node itself may be among the best k+1
	}
	if like == "" && !slices.ContainsFunc(query, func(x float32) bool { return x != 0 }) {
		// The library refuses it too, with ErrInvalid; said here, it is
		// the query's fault, while ErrInvalid from the search itself may
		// name a corrupt embedding stored in the database.
		return usagef("--vector %s: the query has no magnitude (empty, or every value 0): nothing can score against it", vectorFile)
	}
	res, err := s.SearchByVector(e.ctx, query, o)
	if err != nil {
		return err
	}
	if like != "" {
		hits := res.Hits[:0]
		for _, h := range res.Hits {
			if h.ID != like {
				hits = append(hits, h)
			}
		}
		res.Hits = hits[:min(len(hits), k)]
	}
	if e.json {
		return writeJSON(e.stdout, searchResult{s.Path(), res})
	}
	if err := printHits(e.stdout, res, isTerminal(e.stdout)); err != nil {
		return err
	}
	if res.Skipped > 0 {
		fmt.Fprintf(e.stderr, "resonance search: %s of another dimension than the query's %d skipped\n", plural(int64(res.Skipped), "embedding"), len(query))
	}
	return s.Close()
}

// readVector reads the query from path ("-": standard input). Every problem
// with it is a usage error that names the file.
func readVector(e *env, path string) ([]float32, error) {
	var r io.Reader = e.stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("--vector: %v", err)
		}
		defer f.Close()
		r, name = f, strconv.Quote(path)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > maxVectorFile {
			return nil, usagef("--vector: %s is larger than %d MiB: want one JSON array of numbers", name, maxVectorFile>>20)
		}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxVectorFile+1))
	if err != nil {
		return nil, usagef("--vector: read %s: %v", name, err)
	}
	if len(b) > maxVectorFile {
		return nil, usagef("--vector: %s is larger than %d MiB: want one JSON array of numbers", name, maxVectorFile>>20)
	}
	// Pointers tell null, which would read as 0, from a number.
	var ps []*float32
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, usagef("--vector: %s is not a JSON array of numbers such as [0.12, -0.5, 1]: %v", name, err)
	}
	v := make([]float32, len(ps))
	for i, p := range ps {
		if p == nil {
			return nil, usagef("--vector: %s: value %d is null: want a number", name, i)
		}
		v[i] = *p
	}
	return v, nil
}

// printHits writes the hits as a table for a terminal, else as one
// tab-separated line per hit.
func printHits(w io.Writer, res resonance.SearchResult, terminal bool) error {
	if !terminal {
		for _, h := range res.Hits {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", strconv.FormatFloat(h.Score, 'g', -1, 64), h.ID, oneLine(h.Title), h.Date)
		}
		return nil
	}
	if len(res.Hits) == 0 {
		_, err := fmt.Fprintln(w, "no node scored above 0")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tscore\tid\ttitle\tdate")
	for i, h := range res.Hits {
		fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\t%s\n", i+1, h.Score, h.ID, oneLine(h.Title), h.Date)
	}
	return tw.Flush()
}

// oneLine keeps a title on its line and in its column.
func oneLine(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}
