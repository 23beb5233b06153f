// Package vecindex keeps vectors in a compact form for exact search by dot
// product: each vector as int8 codes with one scale, from which every score
// is known to lie between a proven lower and upper bound. A search returns
// the candidates that may rank among the best k; the caller scores them
// exactly from the original float32 vectors, so the answer is exact while
// memory holds a quarter of the floats.
//
// The bounds. A vector v of dimension d is stored as codes c_i = round(v_i/s)
// with s = max|v_i|/127, so |v_i - s·c_i| <= s/2. The query q is coded the
// same way with 16-bit codes Q_i and scale t, |q_i - t·Q_i| <= t/2. Then
//
//	q·v = s·t·ΣQ_i·c_i + s·Σ(q_i - t·Q_i)·c_i + Σq_i·(v_i - s·c_i)
//
// and the last two terms are at most s·(t/2·127·d + Σ|q_i|/2) in magnitude:
// s times a constant of the query. The integer sum is exact: the codes are
// kept as c_i+128 in a byte, ΣQ_i·c_i = ΣQ_i·(c_i+128) - 128·ΣQ_i, and
// dotCodes sums in an int32 only as many products as it holds. A little
// slack covers the rounding of the float64 arithmetic around it (the codes are
// computed with a multiplication by 1/s, off by a few ulps), and that of the
// exact score itself (d float64 additions of exact products), so the exact
// score the caller computes always lies within [lower, upper].
//
// Which candidates. Let L be the k-th largest lower bound: k vectors score at
// least L, so the k-th best score is at least L, and a vector whose upper
// bound is below L cannot rank among the best k. A search returns every
// vector whose upper bound reaches L (and is above 0 and min); ties at the
// k-th score are all kept, so the caller's order of ties decides.
//
// Positions. A Set holds its vectors in the order of their keys (ascending),
// which is the order in which equal scores rank; the caller appends keys in
// order and replaces or removes entries in place.
package vecindex

import (
	"math"
	"sync"
)

// ChunkLen is how many vectors one chunk of codes holds: chunks are
// allocated whole, so that growing a Set never copies its codes.
const ChunkLen = 256

// Any in a Labels filter matches every label.
const Any = ^uint32(0)

// Labels are two numbers a search can filter on (for the caller: a node's
// domain and type).
type Labels struct{ A, B uint32 }

// Matches reports whether l passes the filter f.
func (f Labels) Matches(l Labels) bool {
	return (f.A == Any || f.A == l.A) && (f.B == Any || f.B == l.B)
}

// Set holds vectors of one dimension.
type Set struct {
	dim    int
	n      int
	chunks []*chunk
}

// chunk holds ChunkLen positions. Everything is allocated whole, so that
// what a Set holds is known before it grows (ChunkBytes) and growing
// never copies.
type chunk struct {
	keys   [ChunkLen]int64
	scales [ChunkLen]float32 // > 0: scored; 0: scores nothing; < 0: removed
	labels [ChunkLen]Labels
	codes  []uint8 // ChunkLen × dim, each code plus 128
}

// NewSet returns an empty set of vectors of dimension dim.
func NewSet(dim int) *Set { return &Set{dim: dim} }

// Dim is the dimension of the set's vectors.
func (s *Set) Dim() int { return s.dim }

// Len is how many positions the set has, removed ones included.
func (s *Set) Len() int { return s.n }

// Key returns the key at position i.
func (s *Set) Key(i int) int64 { return s.chunks[i/ChunkLen].keys[i%ChunkLen] }

// Removed reports whether position i was removed.
func (s *Set) Removed(i int) bool { return s.chunks[i/ChunkLen].scales[i%ChunkLen] < 0 }

// LastKey returns the largest key, or false when the set is empty.
func (s *Set) LastKey() (int64, bool) {
	if s.n == 0 {
		return 0, false
	}
	return s.Key(s.n - 1), true
}

// Find returns the position of key, removed or not, or where it would go.
func (s *Set) Find(key int64) (int, bool) {
	lo, hi := 0, s.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.Key(m) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < s.n && s.Key(lo) == key
}

// ChunkBytes is what one chunk of a set of dimension dim holds.
func ChunkBytes(dim int) int64 { return ChunkLen * int64(8+4+8+dim) }

// AppendBytes is what Append allocates: ChunkBytes when it starts a chunk,
// else 0. The caller checks its memory bound with it before appending.
func (s *Set) AppendBytes() int64 {
	if s.n%ChunkLen == 0 && s.n/ChunkLen == len(s.chunks) {
		return ChunkBytes(s.dim)
	}
	return 0
}

// grow allocates the chunk of position i, the next one, when it starts a
// chunk the set does not have.
func (s *Set) grow(i int) {
	if i%ChunkLen == 0 && i/ChunkLen == len(s.chunks) {
		s.chunks = append(s.chunks, &chunk{codes: make([]uint8, ChunkLen*s.dim)})
	}
}

// Reset empties the set and keeps its chunks for the entries appended
// next, so that a set read a part at a time allocates one part's chunks.
func (s *Set) Reset() { s.n = 0 }

// Bytes is what the set holds.
func (s *Set) Bytes() int64 { return int64(len(s.chunks)) * ChunkBytes(s.dim) }

// Append adds v under key, which must be larger than every key in the set.
// scored false keeps the entry (it counts, see Count) but it never scores:
// the caller's rule for vectors that score 0 whatever the query.
func (s *Set) Append(key int64, l Labels, v []float32, scored bool) {
	i := s.n
	s.grow(i)
	s.n++
	s.chunks[i/ChunkLen].keys[i%ChunkLen] = key
	s.Put(i, l, v, scored)
}

// CodesForm names the form of the codes that Coded returns and
// AppendCoded takes (each code plus 128, as encode writes it, with the
// bounds of Query for them): whoever stores them beside the process checks
// it, so it changes whenever encode or the bounds do.
const CodesForm = 1

// AppendCoded adds an entry already coded, as Coded returns it, under key,
// which must be larger than every key in the set; codes holds Dim codes.
func (s *Set) AppendCoded(key int64, l Labels, scale float32, codes []uint8) {
	i := s.n
	s.grow(i)
	s.n++
	c, j := s.chunks[i/ChunkLen], i%ChunkLen
	c.keys[j], c.labels[j], c.scales[j] = key, l, scale
	copy(c.codes[j*s.dim:(j+1)*s.dim], codes)
}

// Coded returns the entry at position i: its key, labels, scale (0: it
// scores nothing; < 0: removed) and codes, which the set keeps using.
func (s *Set) Coded(i int) (key int64, l Labels, scale float32, codes []uint8) {
	c, j := s.chunks[i/ChunkLen], i%ChunkLen
	return c.keys[j], c.labels[j], c.scales[j], c.codes[j*s.dim : (j+1)*s.dim]
}

// Slot is a position appended by Reserve, whose vector is put later,
// possibly by another goroutine: Put on different slots may run at once
// while Reserve appends more, and all must be done before the set is used.
type Slot struct {
	c   *chunk
	j   int
	dim int
}

// Reserve appends a position under key, larger than every key in the set,
// with labels l and no vector yet: it scores nothing until its slot's Put.
func (s *Set) Reserve(key int64, l Labels) Slot {
	i := s.n
	s.grow(i)
	s.n++
	c, j := s.chunks[i/ChunkLen], i%ChunkLen
	c.keys[j], c.labels[j], c.scales[j] = key, l, 0
	return Slot{c: c, j: j, dim: s.dim}
}

// Put gives the slot its vector, as Set.Put does.
func (sl Slot) Put(v []float32, scored bool) {
	sl.c.scales[sl.j] = 0
	if scored {
		sl.c.scales[sl.j] = encode(sl.c.codes[sl.j*sl.dim:(sl.j+1)*sl.dim], v)
	}
}

// Put replaces the vector and labels at position i (removed or not).
func (s *Set) Put(i int, l Labels, v []float32, scored bool) {
	c, j := s.chunks[i/ChunkLen], i%ChunkLen
	c.labels[j] = l
	c.scales[j] = 0
	if scored {
		c.scales[j] = encode(c.codes[j*s.dim:(j+1)*s.dim], v)
	}
}

// Remove removes position i: it no longer scores or counts.
func (s *Set) Remove(i int) { s.chunks[i/ChunkLen].scales[i%ChunkLen] = -1 }

// Count returns how many entries not removed pass the filter f.
func (s *Set) Count(f Labels) int {
	n := 0
	for i := range s.n {
		c, j := s.chunks[i/ChunkLen], i%ChunkLen
		if c.scales[j] >= 0 && f.Matches(c.labels[j]) {
			n++
		}
	}
	return n
}

// encode writes the codes of v, plus 128, into c and returns v's scale, or
// 0 when v is all zeros (it then scores exactly 0). A change to it, or to
// the bounds, changes CodesForm.
func encode(c []uint8, v []float32) float32 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	if m == 0 || math.IsNaN(m) || math.IsInf(m, 0) {
		for i := range c {
			c[i] = 128
		}
		return 0
	}
	// s is rounded up, so that every |v_i|/s is at most 127.
	s := float32(m / 127)
	if float64(s)*127 < m {
		s = math.Nextafter32(s, float32(math.Inf(1)))
	}
	// Multiplying by the inverse instead of dividing errs by a few ulps
	// more, within the bound's slack.
	inv := 1 / float64(s)
	for i, x := range v {
		c[i] = uint8(128 + max(-127, min(127, math.Round(float64(x)*inv))))
	}
	return s
}

// Query is a query vector coded for Candidates.
type Query struct {
	codes  []int32 // 16-bit codes
	offset int64   // 128·ΣQ_i, which the stored codes' offset adds to a dot
	scale  float64 // t
	err    float64 // the bound's constant: |q·v - approximation| <= s·err
}

// NewQuery codes q, whose values must be finite.
func NewQuery(q []float32) *Query {
	var m, sumAbs float64
	for _, x := range q {
		a := math.Abs(float64(x))
		m = max(m, a)
		sumAbs += a
	}
	qq := &Query{codes: make([]int32, len(q))}
	if m == 0 {
		return qq
	}
	qq.scale = m / 32767
	for i, x := range q {
		qq.codes[i] = int32(max(-32767, min(32767, math.Round(float64(x)/qq.scale))))
		qq.offset += 128 * int64(qq.codes[i])
	}
	d := float64(len(q))
	// The quantisation terms, each code's error allowed a little over one
	// half for the rounding of the divisions, then the rounding of the
	// exact score's float64 sum: at most d·2^-53 of Σ|q_i·v_i|, and
	// |v_i| <= 127.5·s.
	qq.err = (qq.scale*127*d/2+sumAbs/2)*(1+1e-9) + sumAbs*128*d*0x1p-52
	return qq
}

// Candidate is a position that may rank among the best k, with the bounds
// of its score.
type Candidate struct {
	Pos          int
	Key          int64
	Lower, Upper float64
}

// bounds returns the bounds of the score of a vector of scale sc and
// codes c.
func (q *Query) bounds(sc float32, c []uint8) (lower, upper float64) {
	approx := float64(dotCodes(q.codes, c)-q.offset) * q.scale * float64(sc)
	b := float64(sc)*q.err + math.Abs(approx)*0x1p-48
	return approx - b, approx + b
}

// dotCodes returns ΣQ_i·u_i exactly, for query codes |Q_i| <= 32767 and
// stored codes u_i <= 255. The stored codes are unsigned and the query's
// int32 because the compiler folds an index and an offset into such
// loads, not into sign-extending ones: each code costs one instruction.
// Each product is at most 8,355,585 in magnitude,
// so an int32 holds the sum of 257 of them. A span of at most 512 codes
// gives each of the four sums at most 128 products (and s0 at most 7 more
// at the end), and the spans' sums add up in an int64.
func dotCodes(q []int32, u []uint8) int64 {
	var sum int64
	for len(q) > 512 {
		sum += dotSpan(q[:512], u[:512])
		q, u = q[512:], u[512:]
	}
	return sum + dotSpan(q, u)
}

// dotSpan is dotCodes for at most 512 codes.
func dotSpan(q []int32, u []uint8) int64 {
	u = u[:len(q)]
	var s0, s1, s2, s3 int32
	i := 0
	// Eight codes a step through fixed-size subslices, so that bounds are
	// checked once a step and the loads are at constant offsets.
	for ; i+8 <= len(q); i += 8 {
		qa, ua := q[i:i+8:i+8], u[i:i+8:i+8]
		s0 += qa[0]*int32(ua[0]) + qa[4]*int32(ua[4])
		s1 += qa[1]*int32(ua[1]) + qa[5]*int32(ua[5])
		s2 += qa[2]*int32(ua[2]) + qa[6]*int32(ua[6])
		s3 += qa[3]*int32(ua[3]) + qa[7]*int32(ua[7])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * int32(u[i])
	}
	return int64(s0) + int64(s1) + int64(s2) + int64(s3)
}

// lowers keeps the k largest lower bounds seen, in a min-heap.
type lowers struct {
	k int
	h []float64
}

// floor is the k-th largest lower bound so far, or -Inf before k.
func (l *lowers) floor() float64 {
	if len(l.h) < l.k {
		return math.Inf(-1)
	}
	return l.h[0]
}

func (l *lowers) push(x float64) {
	if len(l.h) < l.k {
		l.h = append(l.h, x)
		for i := len(l.h) - 1; i > 0; {
			p := (i - 1) / 2
			if l.h[p] <= l.h[i] {
				break
			}
			l.h[i], l.h[p] = l.h[p], l.h[i]
			i = p
		}
		return
	}
	if x <= l.h[0] {
		return
	}
	l.h[0] = x
	for i := 0; ; {
		m, a, b := i, 2*i+1, 2*i+2
		if a < len(l.h) && l.h[a] < l.h[m] {
			m = a
		}
		if b < len(l.h) && l.h[b] < l.h[m] {
			m = b
		}
		if m == i {
			return
		}
		l.h[i], l.h[m] = l.h[m], l.h[i]
		i = m
	}
}

// minSpan is the fewest positions worth a goroutine of their own.
const minSpan = 4 * ChunkLen

// Candidates returns, in position order, every entry passing the filter f
// whose score may rank among the k best that are above 0 and at least minScore:
// a superset of those k, each with bounds that hold its exact score. The
// positions are split among up to workers goroutines.
func (s *Set) Candidates(q *Query, k int, minScore float64, f Labels, workers int) []Candidate {
	if k <= 0 || q.scale == 0 {
		return nil
	}
	n := s.n
	workers = max(1, min(workers, n/minSpan))
	// A span is whole chunks, so that no two goroutines share one.
	type part struct {
		low   lowers
		cands []Candidate
	}
	parts := make([]part, workers)
	span := ((n+workers-1)/workers + ChunkLen - 1) / ChunkLen * ChunkLen
	var wg sync.WaitGroup
	for w := range parts {
		p := &parts[w]
		p.low.k = k
		lo, hi := w*span, min(n, (w+1)*span)
		run := func() {
			d := s.dim
			for i := lo; i < hi; i++ {
				c, j := s.chunks[i/ChunkLen], i%ChunkLen
				sc := c.scales[j]
				if sc <= 0 || !f.Matches(c.labels[j]) {
					continue
				}
				lower, upper := q.bounds(sc, c.codes[j*d:(j+1)*d:(j+1)*d])
				if upper <= 0 || upper < minScore || upper < p.low.floor() {
					continue
				}
				p.low.push(lower)
				p.cands = append(p.cands, Candidate{Pos: i, Key: c.keys[j], Lower: lower, Upper: upper})
			}
		}
		if w == len(parts)-1 {
			run()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()
	best := NewBest(k)
	for _, p := range parts {
		best.Add(p.cands)
	}
	return best.Candidates()
}

// Best gathers the candidates of searches for the same query and k over
// disjoint entries (the spans of a Set, or sets searched one after the
// other) and keeps those that may rank among the best k of them all.
type Best struct {
	low   lowers
	cands []Candidate
}

// NewBest returns an empty Best for the best k.
func NewBest(k int) *Best { return &Best{low: lowers{k: k}} }

// Floor is the k-th largest lower bound added so far, or -Inf before k:
// no entry whose upper bound is below it ranks among the best k, so it
// may serve as the minScore of the next search.
func (b *Best) Floor() float64 { return b.low.floor() }

// Add adds candidates, which keep the positions of the set they came from.
func (b *Best) Add(cands []Candidate) {
	for _, c := range cands {
		b.low.push(c.Lower)
	}
	b.cands = append(b.cands, cands...)
}

// Candidates returns the candidates added whose upper bound reaches the
// floor, in the order they were added.
func (b *Best) Candidates() []Candidate {
	floor := b.Floor()
	var out []Candidate
	for _, c := range b.cands {
		if c.Upper >= floor {
			out = append(out, c)
		}
	}
	return out
}
