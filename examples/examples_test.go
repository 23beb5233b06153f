package examples_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/resonance-graph/resonancedb/examples"
	"github.com/resonance-graph/resonancedb/internal/jsonl"
)

// TestGraph_MatchesGenerator fails when graph.jsonl is not what the
// generator writes: run `go generate ./examples` and commit the result.
func TestGraph_MatchesGenerator(t *testing.T) {
	var buf bytes.Buffer
	if err := examples.Generate(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), examples.Graph) {
		t.Fatalf("examples/graph.jsonl (%d bytes) differs from the generator's output (%d bytes): run `go generate ./examples` and commit it",
			len(examples.Graph), buf.Len())
	}
	if len(examples.Graph) > 3<<20 {
		t.Errorf("graph.jsonl is %d bytes; keep it under 3 MiB", len(examples.Graph))
	}
}

func TestGraph_Shape(t *testing.T) {
	sc := jsonl.NewScanner(bytes.NewReader(examples.Graph))
	ids := map[string]bool{}
	domains := map[string]int{}
	var edges, lexicon, tokens int
	first := ""
	for sc.Scan() {
		r := sc.Record()
		switch r.Kind {
		case jsonl.KindNode:
			if edges > 0 {
				t.Fatalf("line %d: node after edges", sc.Line())
			}
			n := r.Node
			if first == "" {
				first = n.ID
			}
			if ids[n.ID] {
				t.Errorf("line %d: duplicate id %q", sc.Line(), n.ID)
			}
			ids[n.ID] = true
			domains[n.Domain]++
			if len(n.Embedding) != examples.Dim {
				t.Errorf("node %q: embedding has %d values, want %d", n.ID, len(n.Embedding), examples.Dim)
			}
			var sum float64
			for _, x := range n.Embedding {
				sum += float64(x) * float64(x)
			}
			if math.Abs(math.Sqrt(sum)-1) > 1e-5 {
				t.Errorf("node %q: embedding norm %v, want 1", n.ID, math.Sqrt(sum))
			}
			if n.Domain == "lexicon" && n.Type == "concept" {
				lexicon++
				if !bytes.Contains(n.Meta, []byte(`"aliases"`)) || !bytes.Contains(n.Meta, []byte(`"definition"`)) {
					t.Errorf("concept %q: meta %s lacks aliases or definition", n.ID, n.Meta)
				}
			}
			if bytes.Contains(n.Meta, []byte(`"semantic_tokens"`)) {
				tokens++
			}
		case jsonl.KindEdge:
			edges++
			if !ids[r.Edge.Source] || !ids[r.Edge.Target] {
				t.Errorf("line %d: edge %q -> %q names a missing node", sc.Line(), r.Edge.Source, r.Edge.Target)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if first != examples.FirstNodeID {
		t.Errorf("first node is %q, want examples.FirstNodeID %q", first, examples.FirstNodeID)
	}
	if len(ids) < 200 || edges < len(ids) || len(domains) < 3 || lexicon < 10 || tokens < 20 {
		t.Errorf("graph too small: %d nodes in %d domains (%v), %d edges, %d lexicon concepts, %d with semantic_tokens",
			len(ids), len(domains), domains, edges, lexicon, tokens)
	}
}
