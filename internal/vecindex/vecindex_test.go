package vecindex

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// exact is the score the caller computes: float32 products summed in
// float64 in index order.
func exact(q, v []float32) float64 {
	var s float64
	for i := range q {
		s += float64(q[i]) * float64(v[i])
	}
	return s
}

type entry struct {
	key     int64
	l       Labels
	v       []float32
	scored  bool
	removed bool
}

type hit struct {
	key   int64
	score float64
}

// best is the brute-force reference: every entry scored exactly, hits above
// 0 and at least minScore, highest first, equal scores by key.
func best(es []entry, q []float32, k int, minScore float64, f Labels) []hit {
	var hs []hit
	for _, e := range es {
		if e.removed || !e.scored || !f.Matches(e.l) {
			continue
		}
		if s := exact(q, e.v); s > 0 && s >= minScore {
			hs = append(hs, hit{e.key, s})
		}
	}
	slices.SortFunc(hs, func(a, b hit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return hs[:min(k, len(hs))]
}

// randomVector draws a vector of one of several kinds: normal, with a
// wide range of magnitudes, sparse, or a copy of an earlier one moved by
// a float32 ulp in one coordinate (a near-tie) or not at all (a duplicate).
func randomVector(rng *rand.Rand, dim int, earlier [][]float32) []float32 {
	v := make([]float32, dim)
	switch r := rng.IntN(10); {
	case r < 3 && len(earlier) > 0:
		copy(v, earlier[rng.IntN(len(earlier))])
		if r > 0 {
			i := rng.IntN(dim)
			v[i] = math.Nextafter32(v[i], float32(math.Inf(rng.IntN(2)*2-1)))
		}
	case r == 3:
		scale := math.Pow(10, float64(rng.IntN(40)-20))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
	case r == 4:
		v[rng.IntN(dim)] = float32(rng.NormFloat64())
	default:
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

// randomSearch draws a search: k, a minScore (mostly 0) and a filter on
// labels A in [0, 2) and B in [0, 3) (mostly none).
func randomSearch(rng *rand.Rand) (k int, minScore float64, f Labels) {
	k = []int{1, 10, 50, 1000}[rng.IntN(4)]
	if rng.IntN(4) == 0 {
		minScore = rng.NormFloat64()
	}
	f = Labels{Any, Any}
	if rng.IntN(3) == 0 {
		f.A = uint32(rng.IntN(2))
	}
	if rng.IntN(3) == 0 {
		f.B = uint32(rng.IntN(3))
	}
	return k, minScore, f
}

// TestCandidates_HoldTheExactBest: over random sets with duplicates and
// near-ties, removed entries, filters and several goroutines, every
// candidate's bounds hold its exact score, and scoring the candidates
// exactly gives the brute-force reference's best k, keys and scores.
func TestCandidates_HoldTheExactBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 1))
	for round := range 60 {
		dim := []int{1, 2, 3, 7, 16, 64, 384, 700}[rng.IntN(8)]
		n := rng.IntN(300)
		if round%6 == 0 {
			n = 3*minSpan + rng.IntN(minSpan) // enough for several goroutines
		}
		set := NewSet(dim)
		var es []entry
		var vs [][]float32
		key := int64(0)
		for range n {
			key += 1 + int64(rng.IntN(3))
			v := randomVector(rng, dim, vs)
			vs = append(vs, v)
			e := entry{key: key, l: Labels{uint32(rng.IntN(2)), uint32(rng.IntN(3))}, v: v, scored: rng.IntN(20) > 0}
			set.Append(e.key, e.l, e.v, e.scored)
			es = append(es, e)
		}
		// Replace and remove some in place.
		for range n / 10 {
			i := rng.IntN(n)
			if rng.IntN(2) == 0 {
				es[i].removed = true
				set.Remove(i)
				continue
			}
			es[i].v, es[i].removed, es[i].scored = randomVector(rng, dim, vs), false, true
			set.Put(i, es[i].l, es[i].v, true)
		}
		for range 8 {
			q := randomVector(rng, dim, vs)
			if exact(q, q) == 0 {
				continue
			}
			k, minScore, f := randomSearch(rng)
			workers := 1 + rng.IntN(4)
			cands := set.Candidates(NewQuery(q), k, minScore, f, workers)
			var got []hit
			for _, c := range cands {
				e := es[c.Pos]
				if e.key != c.Key || e.removed || !e.scored || !f.Matches(e.l) {
					t.Fatalf("round %d: candidate %+v is not a live entry passing the filter", round, c)
				}
				s := exact(q, e.v)
				if !(c.Lower <= s && s <= c.Upper) {
					t.Fatalf("round %d: key %d scores %g outside its bounds [%g, %g]", round, c.Key, s, c.Lower, c.Upper)
				}
				if s > 0 && s >= minScore {
					got = append(got, hit{c.Key, s})
				}
			}
			slices.SortFunc(got, func(a, b hit) int {
				if c := cmp.Compare(b.score, a.score); c != 0 {
					return c
				}
				return cmp.Compare(a.key, b.key)
			})
			got = got[:min(k, len(got))]
			want := best(es, q, k, minScore, f)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d (dim %d, n %d, k %d, min %g, filter %v, workers %d):\n got %v\nwant %v", round, dim, n, k, minScore, f, workers, got, want)
			}
		}
	}
}

// TestCandidates_FewBeyondK: on random unit-scale vectors the bounds are
// tight enough that the candidates are few beside the whole set, which is
// what makes the compact form worth having.
func TestCandidates_FewBeyondK(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const dim, n = 128, 20000
	set := NewSet(dim)
	for i := range n {
		set.Append(int64(i+1), Labels{}, randomVector(rng, dim, nil), true)
	}
	q := make([]float32, dim)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	if c := set.Candidates(NewQuery(q), 10, 0, Labels{Any, Any}, 2); len(c) > n/20 {
		t.Errorf("%d candidates of %d for k=10: the bounds are too loose to save work", len(c), n)
	}
}

func TestFind(t *testing.T) {
	set := NewSet(2)
	for _, k := range []int64{2, 5, 9} {
		set.Append(k, Labels{}, []float32{1, 2}, true)
	}
	for _, tc := range []struct {
		key int64
		pos int
		ok  bool
	}{{1, 0, false}, {2, 0, true}, {5, 1, true}, {6, 2, false}, {9, 2, true}, {10, 3, false}} {
		if pos, ok := set.Find(tc.key); pos != tc.pos || ok != tc.ok {
			t.Errorf("Find(%d) = %d, %v; want %d, %v", tc.key, pos, ok, tc.pos, tc.ok)
		}
	}
}

// TestDotCodes_Exact: the integer dot product is exact at every length up
// to past two spans, including the extremes, where int32 sums over a whole
// vector of 384 or more codes would overflow.
func TestDotCodes_Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, d := range []int{1, 7, 8, 9, 384, 511, 512, 513, 1024, 1031, 2100} {
		for round := range 6 {
			q, u := make([]int32, d), make([]uint8, d)
			for i := range q {
				switch round {
				case 0: // every product at its largest
					q[i], u[i] = 32767, 255
				case 1: // at its most negative
					q[i], u[i] = -32767, 255
				case 2: // codes at the other end
					q[i], u[i] = 32767, 1
				default:
					q[i], u[i] = int32(rng.IntN(65535)-32767), uint8(1+rng.IntN(255))
				}
			}
			var want int64
			for i := range q {
				want += int64(q[i]) * int64(u[i])
			}
			if got := dotCodes(q, u); got != want {
				t.Errorf("dim %d round %d: dotCodes = %d, want %d", d, round, got, want)
			}
		}
	}
}

// unitSets holds the benchmark's sets of random unit vectors by size,
// built once for every benchmark that uses them.
var unitSets = map[int]*Set{}

func unitSet(n, dim int) *Set {
	if s := unitSets[n]; s != nil {
		return s
	}
	rng := rand.New(rand.NewPCG(uint64(n), 2))
	set := NewSet(dim)
	v := make([]float32, dim)
	for i := range n {
		unitVector(rng, v)
		set.Append(int64(i), Labels{}, v, true)
	}
	unitSets[n] = set
	return set
}

func unitVector(rng *rand.Rand, v []float32) {
	var norm float64
	for j := range v {
		x := rng.NormFloat64()
		v[j] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for j := range v {
		v[j] = float32(float64(v[j]) / norm)
	}
}

// BenchmarkCandidates scans n random unit vectors of 384 floats for the
// candidates of the best k, over GOMAXPROCS goroutines (run with -cpu 2).
func BenchmarkCandidates(b *testing.B) {
	const dim = 384
	for _, n := range []int{20000, 1000000} {
		set := unitSet(n, dim)
		rng := rand.New(rand.NewPCG(9, 9))
		q := make([]float32, dim)
		unitVector(rng, q)
		qq := NewQuery(q)
		for _, k := range []int{10, 50} {
			b.Run(fmt.Sprintf("n=%d/k=%d", n, k), func(b *testing.B) {
				w := runtime.GOMAXPROCS(0)
				for b.Loop() {
					set.Candidates(qq, k, 0, Labels{Any, Any}, w)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/vector")
			})
		}
	}
}

// TestBest_SetsOneAfterAnother: entries split into sets searched one after
// the other, each with the floor of those before as its minScore, give the
// brute-force reference's best k, as one set does. A floor taken from the
// upper bounds instead of the lower ones fails it.
func TestBest_SetsOneAfterAnother(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 3))
	for round := range 80 {
		dim := []int{1, 3, 16, 384}[rng.IntN(4)]
		n := 1 + rng.IntN(3000)
		var es []entry
		var vs [][]float32
		for i := range n {
			v := randomVector(rng, dim, vs)
			vs = append(vs, v)
			es = append(es, entry{key: int64(i + 1), l: Labels{uint32(rng.IntN(2)), 0}, v: v, scored: rng.IntN(20) > 0, removed: rng.IntN(15) == 0})
		}
		q := randomVector(rng, dim, vs)
		if exact(q, q) == 0 {
			continue
		}
		k, minScore, f := randomSearch(rng)
		qq := NewQuery(q)
		b := NewBest(k)
		pieces := 0
		for lo := 0; lo < n; pieces++ {
			hi := min(n, lo+1+rng.IntN(n/2+1))
			set := NewSet(dim)
			for i, e := range es[lo:hi] {
				set.Append(e.key, e.l, e.v, e.scored)
				if e.removed {
					set.Remove(i)
				}
			}
			b.Add(set.Candidates(qq, k, max(minScore, b.Floor()), f, 1+rng.IntN(2)))
			lo = hi
		}
		var got []hit
		for _, c := range b.Candidates() {
			e := es[c.Key-1]
			s := exact(q, e.v)
			if e.removed || !e.scored || !f.Matches(e.l) || !(c.Lower <= s && s <= c.Upper) {
				t.Fatalf("round %d: candidate %+v is not a live entry within its bounds", round, c)
			}
			if s > 0 && s >= minScore {
				got = append(got, hit{c.Key, s})
			}
		}
		slices.SortFunc(got, func(a, b hit) int {
			return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.key, b.key))
		})
		got = got[:min(k, len(got))]
		if want := best(es, q, k, minScore, f); !slices.Equal(got, want) {
			t.Fatalf("round %d (dim %d, n %d in %d sets, k %d, min %g, filter %v):\n got %v\nwant %v", round, dim, n, pieces, k, minScore, f, got, want)
		}
	}
}

// TestSet_ResetReusesChunks: a set reset and filled again holds what a new
// set holds (its candidates, keys, counts), without allocating chunks
// while it holds no more than before.
func TestSet_ResetReusesChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 7))
	const dim = 24
	fill := func(s *Set, n int, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range n {
			s.Append(int64(3*i+1), Labels{uint32(r.IntN(2)), 0}, randomVector(r, dim, nil), r.IntN(10) > 0)
			if r.IntN(9) == 0 {
				s.Remove(i)
			}
		}
	}
	reused := NewSet(dim)
	fill(reused, 3*ChunkLen+7, 1)
	for round, n := range []int{ChunkLen, 1, 3*ChunkLen + 7, 2 * ChunkLen, 5*ChunkLen + 3} {
		before := reused.Bytes()
		reused.Reset()
		if reused.Len() != 0 || reused.AppendBytes() != 0 {
			t.Fatalf("round %d: after Reset, %d positions and %d bytes to append, want 0 and 0 (a chunk to reuse)", round, reused.Len(), reused.AppendBytes())
		}
		fill(reused, n, uint64(round+2))
		fresh := NewSet(dim)
		fill(fresh, n, uint64(round+2))
		if want := max(before, fresh.Bytes()); reused.Bytes() != want {
			t.Fatalf("round %d: %d bytes after Reset and %d entries, want %d", round, reused.Bytes(), n, want)
		}
		q := randomVector(rng, dim, nil)
		for _, f := range []Labels{{Any, Any}, {1, Any}} {
			got := reused.Candidates(NewQuery(q), 10, 0, f, 2)
			want := fresh.Candidates(NewQuery(q), 10, 0, f, 2)
			if !slices.Equal(got, want) || reused.Count(f) != fresh.Count(f) {
				t.Fatalf("round %d, filter %v: reused set's candidates %v (count %d), a new set's %v (count %d)", round, f, got, reused.Count(f), want, fresh.Count(f))
			}
		}
		if k, _ := reused.LastKey(); k != int64(3*(n-1)+1) {
			t.Fatalf("round %d: last key %d, want %d", round, k, 3*(n-1)+1)
		}
	}
}
