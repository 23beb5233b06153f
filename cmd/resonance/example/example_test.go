package example_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/resonance-graph/resonancedb/cmd/resonance/example"
	"github.com/resonance-graph/resonancedb/resonance/jsonl"
)

// TestGraph_MatchesGenerator fails when graph.jsonl is not what the
// generator writes: run `go generate ./cmd/resonance/example` and commit the result.
func TestGraph_MatchesGenerator(t *testing.T) {
	var buf bytes.Buffer
	if err := example.Generate(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), example.Graph) {
		t.Fatalf("cmd/resonance/example/graph.jsonl (%d bytes) differs from the generator's output (%d bytes): run `go generate ./cmd/resonance/example` and commit it",
			len(example.Graph), buf.Len())
	}
	if len(example.Graph) > 3<<20 {
		t.Errorf("graph.jsonl is %d bytes; keep it under 3 MiB", len(example.Graph))
	}
}

func TestGraph_Shape(t *testing.T) {
	sc := jsonl.NewScanner(bytes.NewReader(example.Graph))
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
			if len(n.Embedding) != example.Dim {
				t.Errorf("node %q: embedding has %d values, want %d", n.ID, len(n.Embedding), example.Dim)
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
	if first != example.FirstNodeID {
		t.Errorf("first node is %q, want example.FirstNodeID %q", first, example.FirstNodeID)
	}
	if len(ids) < 200 || edges < len(ids) || len(domains) < 3 || lexicon < 10 || tokens < 20 {
		t.Errorf("graph too small: %d nodes in %d domains (%v), %d edges, %d lexicon concepts, %d with semantic_tokens",
			len(ids), len(domains), domains, edges, lexicon, tokens)
	}
}
