package bench

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/resonance-graph/resonancedb/resonance"
)

// Dim is the embedding dimension of every node written.
const Dim = 384

// data generates the graph both sides write: the same nodes, in the same
// order, with the same edges. Nodes are built on the fly into reused buffers
// (only the ids are kept), so the input does not weigh on P1's memory.
type data struct {
	n     int
	edges int // per node
	ids   []string
	perm  []int // a fixed pseudo-random order of 0..n-1 for the reads
	embs  [][]float32
}

// embeddings is how many distinct embeddings the nodes cycle through.
const embeddings = 64

func newData(n, edgesPerNode int) *data {
	d := &data{n: n, edges: edgesPerNode, ids: make([]string, n)}
	for i := range d.ids {
		d.ids[i] = nodeID("doc", i)
	}
	rng := xorshift(0x9e3779b97f4a7c15)
	d.perm = make([]int, n)
	for i := range d.perm {
		d.perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(rng.next() % uint64(i+1))
		d.perm[i], d.perm[j] = d.perm[j], d.perm[i]
	}
	d.embs = make([][]float32, embeddings)
	for k := range d.embs {
		v := make([]float32, Dim)
		for j := range v {
			v[j] = float32(rng.next()%20001)/10000 - 1
		}
		d.embs[k] = resonance.Normalize(v)
	}
	return d
}

func nodeID(prefix string, i int) string {
	b := make([]byte, 0, 24)
	b = append(b, "bench/"...)
	b = append(b, prefix...)
	b = append(b, '-')
	s := strconv.Itoa(i)
	for range 6 - len(s) {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

// nodeBuf holds the text of one generated node.
type nodeBuf struct {
	title, hash, summary, meta []byte
}

// node fills nb with node i (id given) and returns it. Its byte fields
// alias nb's buffers until the next call.
func (d *data) node(nb *nodeBuf, id string, i int) resonance.Node {
	nb.title = append(append(nb.title[:0], "Document "...), id...)
	nb.hash = strconv.AppendUint(nb.hash[:0], uint64(i)*0x9e3779b97f4a7c15, 16)
	nb.summary = append(append(nb.summary[:0], "A short summary of document "...), id...)
	m := append(nb.meta[:0], `{"source":"bench","n":`...)
	m = strconv.AppendInt(m, int64(i), 10)
	m = append(m, `,"tags":["alpha","beta","gamma"],"semantic_tokens":["resonance","graph","node-`...)
	m = strconv.AppendInt(m, int64(i%97), 10)
	m = append(m, `"],"weight":0.75}`...)
	nb.meta = m
	domain := ""
	if i%10 == 0 {
		domain = "lexicon"
	}
	return resonance.Node{
		ID:        id,
		Type:      "document",
		Title:     string(nb.title),
		Domain:    domain,
		Embedding: d.embs[i%embeddings],
		Hash:      string(nb.hash),
		Summary:   string(nb.summary),
		Meta:      json.RawMessage(nb.meta),
		Date:      "2024-05-01",
	}
}

// edgeTypes are the types of a node's edges, in order.
var edgeTypes = []string{"related_to", "references", "derived_from", "related_to", "mentions"}

// edge returns the target and type of node i's k-th edge.
func (d *data) edge(i, k int) (target, typ string) {
	offsets := [...]int{1, 17, 331, 4099, 7}
	return d.ids[(i+offsets[k%len(offsets)]+k/len(offsets))%d.n], edgeTypes[k%len(edgeTypes)]
}

// edgeCount is how many distinct edges P1 writes.
func (d *data) edgeCount() int {
	seen := make(map[[3]string]bool, d.n*d.edges)
	for i := range d.n {
		for k := range d.edges {
			t, typ := d.edge(i, k)
			seen[[3]string{d.ids[i], t, typ}] = true
		}
	}
	return len(seen)
}

// xorshift is a small deterministic generator.
type xorshift uint64

func (x *xorshift) next() uint64 {
	v := uint64(*x)
	v ^= v << 13
	v ^= v >> 7
	v ^= v << 17
	*x = xorshift(v)
	return v
}

// encodeEmbedding is what a plain program writes in the embedding column:
// little-endian float32, refusing NaN and ±Inf.
func encodeEmbedding(dst []byte, v []float32) ([]byte, bool) {
	dst = dst[:0]
	for _, x := range v {
		bits := math.Float32bits(x)
		if bits&0x7f800000 == 0x7f800000 {
			return nil, false
		}
		dst = append(dst, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24))
	}
	return dst, true
}

// decodeEmbedding is the inverse of encodeEmbedding.
func decodeEmbedding(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		j := 4 * i
		v[i] = math.Float32frombits(uint32(b[j]) | uint32(b[j+1])<<8 | uint32(b[j+2])<<16 | uint32(b[j+3])<<24)
	}
	return v
}

// appendJSONString appends s as a JSON string. The generated text holds no
// character that needs more than the two escapes and \u00XX.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
