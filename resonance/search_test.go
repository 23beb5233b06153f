package resonance_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// searchIDs returns the ids of res's hits, in order.
func searchIDs(res resonance.SearchResult) []string {
	ids := []string{}
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func mustSearch(t *testing.T, s *resonance.Store, q []float32, o resonance.SearchOptions) resonance.SearchResult {
	t.Helper()
	res, err := s.SearchByVector(context.Background(), q, o)
	if err != nil {
		t.Fatalf("SearchByVector(%v, %+v): %v", q, o, err)
	}
	return res
}

func mustUpsert(t *testing.T, s *resonance.Store, n resonance.Node) {
	t.Helper()
	if err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
		t.Fatalf("UpsertNode(%q): %v", n.ID, err)
	}
}

func TestStore_SearchByVector(t *testing.T) {
	s := openStore(t, resonance.Options{})
	nodes := []resonance.Node{
		{ID: "a", Type: "doc", Title: "A", Embedding: []float32{1, 0, 0}, Meta: json.RawMessage(`{"n":1}`), Date: "2024-01-01"},
		{ID: "b", Type: "doc", Title: "B", Embedding: []float32{0.5, 0.5, 0}},
		{ID: "tie1", Type: "note", Embedding: []float32{0, 1, 0}},
		{ID: "neg", Type: "doc", Embedding: []float32{-1, 0, 0}},
		{ID: "zero", Type: "doc", Embedding: []float32{0, 0, 0}},
		{ID: "tiny", Type: "doc", Embedding: []float32{1e-7, 0, 0}}, // magnitude below 1e-6: scores 0
		{ID: "tie2", Type: "note", Domain: "lexicon", Embedding: []float32{0, 1, 0}},
		{ID: "four", Type: "doc", Embedding: []float32{1, 1, 1, 1}},
		{ID: "none", Type: "doc"},
		{ID: "c", Type: "doc", Title: "C", Embedding: []float32{2, 1, 0}},
	}
	for _, n := range nodes {
		mustUpsert(t, s, n)
	}
	q := []float32{1, 1, 0}

	res := mustSearch(t, s, q, resonance.SearchOptions{})
	want := resonance.SearchResult{
		Hits: []resonance.SearchHit{
			{ID: "c", Score: 3, Title: "C"},
			{ID: "a", Score: 1, Title: "A", Meta: json.RawMessage(`{"n":1}`), Date: "2024-01-01"},
			{ID: "b", Score: 1, Title: "B"},
			{ID: "tie1", Score: 1},
			{ID: "tie2", Score: 1},
		},
		Skipped: 1,
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("default search (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		o       resonance.SearchOptions
		ids     []string
		skipped int
	}{
		{resonance.SearchOptions{K: 2}, []string{"c", "a"}, 1},
		{resonance.SearchOptions{K: 100}, []string{"c", "a", "b", "tie1", "tie2"}, 1},
		{resonance.SearchOptions{Type: "note"}, []string{"tie1", "tie2"}, 0},
		{resonance.SearchOptions{Domain: "lexicon"}, []string{"tie2"}, 0},
		{resonance.SearchOptions{Domain: "knowledge", Type: "doc"}, []string{"c", "a", "b"}, 1},
		{resonance.SearchOptions{Type: "missing"}, []string{}, 0},
		{resonance.SearchOptions{MinScore: 1}, []string{"c", "a", "b", "tie1", "tie2"}, 1},
		{resonance.SearchOptions{MinScore: 1.5}, []string{"c"}, 1},
		{resonance.SearchOptions{MinScore: -5}, []string{"c", "a", "b", "tie1", "tie2"}, 1},
		{resonance.SearchOptions{MinScore: 4}, []string{}, 1},
	} {
		res := mustSearch(t, s, q, tc.o)
		if diff := cmp.Diff(tc.ids, searchIDs(res)); diff != "" || res.Skipped != tc.skipped {
			t.Errorf("%+v: ids (-want +got):\n%s skipped %d, want %d", tc.o, diff, res.Skipped, tc.skipped)
		}
	}

	res = mustSearch(t, s, []float32{1, 1, 1, 1}, resonance.SearchOptions{})
	if diff := cmp.Diff([]string{"four"}, searchIDs(res)); diff != "" || res.Skipped != 8 {
		t.Errorf("4-dimensional query: ids (-want +got):\n%s skipped %d, want 8", diff, res.Skipped)
	}
	res = mustSearch(t, s, []float32{1, 1}, resonance.SearchOptions{})
	if len(res.Hits) != 0 || res.Skipped != 9 {
		t.Errorf("2-dimensional query: %+v, want no hits and 9 skipped", res)
	}
}

func TestStore_SearchByVector_RefusesBadInput(t *testing.T) {
	s := openStore(t, resonance.Options{})
	mustUpsert(t, s, resonance.Node{ID: "a", Type: "doc", Embedding: []float32{1, 0}})
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		q    []float32
		o    resonance.SearchOptions
	}{
		{"nil query", nil, resonance.SearchOptions{}},
		{"empty query", []float32{}, resonance.SearchOptions{}},
		{"NaN", []float32{1, nan}, resonance.SearchOptions{}},
		{"+Inf", []float32{inf, 0}, resonance.SearchOptions{}},
		{"-Inf", []float32{0, -inf}, resonance.SearchOptions{}},
		{"zero magnitude", []float32{0, 0}, resonance.SearchOptions{}},
		{"magnitude below 1e-6", []float32{1e-7, 0}, resonance.SearchOptions{}},
		{"negative K", []float32{1, 0}, resonance.SearchOptions{K: -1}},
		{"NaN MinScore", []float32{1, 0}, resonance.SearchOptions{MinScore: math.NaN()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SearchByVector(context.Background(), tc.q, tc.o)
			if !errors.Is(err, resonance.ErrInvalid) {
				t.Errorf("SearchByVector: %v, want ErrInvalid", err)
			}
			err = s.Read(context.Background(), func(ctx context.Context, tx *resonance.ReadTx) error {
				_, err := tx.SearchByVector(context.Background(), tc.q, tc.o)
				return err
			})
			if !errors.Is(err, resonance.ErrInvalid) {
				t.Errorf("Tx.SearchByVector: %v, want ErrInvalid", err)
			}
		})
	}
	s.Close()
	if _, err := s.SearchByVector(context.Background(), []float32{1, 0}, resonance.SearchOptions{}); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// TestStore_SearchByVector_SeesCommitsOfOtherStores commits through
// another Store on the same file (connections the searching store knows
// nothing of), through the searching store itself and through raw SQL: every
// insert, update and delete of an embedding is seen by the next search.
func TestStore_SearchByVector_SeesCommitsOfOtherStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	other := openStoreAt(t, path, resonance.Options{})
	ctx := context.Background()
	q := []float32{1, 0, 0}
	mustUpsert(t, s, resonance.Node{ID: "a", Type: "doc", Embedding: []float32{0.5, 0.5, 0}})
	expect := func(step string, ids ...string) {
		t.Helper()
		res := mustSearch(t, s, q, resonance.SearchOptions{})
		if diff := cmp.Diff(append([]string{}, ids...), searchIDs(res)); diff != "" {
			t.Errorf("%s: hits (-want +got):\n%s", step, diff)
		}
	}
	expect("start", "a")
	expect("again, unchanged", "a")
	mustUpsert(t, other, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{1, 0, 0}})
	expect("insert by another store", "b", "a")
	mustUpsert(t, other, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{-1, 0, 0}})
	expect("update by another store", "a")
	mustUpsert(t, other, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{0.9, 0, 0}})
	expect("update back", "b", "a")
	if _, err := other.DB().ExecContext(ctx, "DELETE FROM nodes WHERE id = 'b'"); err != nil {
		t.Fatal(err)
	}
	expect("delete by another store", "a")
	mustUpsert(t, s, resonance.Node{ID: "c", Type: "doc", Embedding: []float32{2, 0, 0}})
	expect("insert by the same store", "c", "a")
	mustUpsert(t, s, resonance.Node{ID: "c", Type: "doc"})
	expect("embedding removed by the same store", "a")
	if _, err := other.DB().ExecContext(ctx, "UPDATE nodes SET type = 'note' WHERE id = 'a'"); err != nil {
		t.Fatal(err)
	}
	res := mustSearch(t, s, q, resonance.SearchOptions{Type: "doc"})
	if len(res.Hits) != 0 {
		t.Errorf("type changed by another store: hits %v, want none of type doc", searchIDs(res))
	}
}

// TestStore_SearchByVector_SeesCommitsOfOtherProcesses runs the writes in
// a child process (the test binary, re-run): the next search sees each.
func TestStore_SearchByVector_SeesCommitsOfOtherProcesses(t *testing.T) {
	if path := os.Getenv("RESONANCE_SEARCH_CHILD_DB"); path != "" {
		searchChildWrite(t, path, os.Getenv("RESONANCE_SEARCH_CHILD_OP"))
		return
	}
	path := filepath.Join(t.TempDir(), "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	mustUpsert(t, s, resonance.Node{ID: "a", Type: "doc", Embedding: []float32{0.5, 0.5, 0}})
	q := []float32{1, 0, 0}
	child := func(op string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestStore_SearchByVector_SeesCommitsOfOtherProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RESONANCE_SEARCH_CHILD_DB="+path, "RESONANCE_SEARCH_CHILD_OP="+op)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child %s: %v\n%s", op, err, out)
		}
	}
	for _, step := range []struct {
		op  string
		ids []string
	}{
		{"", []string{"a"}},
		{"insert", []string{"b", "a"}},
		{"update", []string{"a"}},
		{"restore", []string{"b", "a"}},
		{"delete", []string{"a"}},
	} {
		if step.op != "" {
			child(step.op)
		}
		res := mustSearch(t, s, q, resonance.SearchOptions{})
		if diff := cmp.Diff(step.ids, searchIDs(res)); diff != "" {
			t.Errorf("after the child's %q: hits (-want +got):\n%s", step.op, diff)
		}
	}
}

// searchChildWrite is the child of
// TestStore_SearchByVector_SeesCommitsOfOtherProcesses.
func searchChildWrite(t *testing.T, path, op string) {
	s, err := resonance.Open(context.Background(), path, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	switch op {
	case "insert", "restore":
		err = s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{1, 0, 0}})
		})
	case "update":
		err = s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{0, 0, 1}})
		})
	case "delete":
		_, err = s.DB().ExecContext(context.Background(), "DELETE FROM nodes WHERE id = 'b'")
	default:
		err = fmt.Errorf("unknown op %q", op)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// refSearch is the original's search, by brute force: read every
// embedding with a plain scan, score each over the query's length with
// the magnitudes (0 below 1e-6), keep scores above 0, sort stably, take
// k, then read title, meta and date. Only the dimension check and the
// filters are added, as SearchByVector documents them.
func refSearch(t *testing.T, db *sql.DB, q []float32, o resonance.SearchOptions) resonance.SearchResult {
	t.Helper()
	rows, err := db.Query("SELECT id, domain, type, embedding FROM nodes WHERE embedding IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type cand struct {
		id    string
		score float64
	}
	var cands []cand
	res := resonance.SearchResult{Hits: []resonance.SearchHit{}}
	for rows.Next() {
		var id, domain, typ string
		var blob []byte
		if err := rows.Scan(&id, &domain, &typ, &blob); err != nil {
			t.Fatal(err)
		}
		if (o.Domain != "" && domain != o.Domain) || (o.Type != "" && typ != o.Type) {
			continue
		}
		v, err := resonance.DecodeEmbedding(blob)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != len(q) {
			res.Skipped++
			continue
		}
		var dot, na, nb float64
		for i := range q {
			dot += float64(q[i]) * float64(v[i])
			na += float64(q[i]) * float64(q[i])
			nb += float64(v[i]) * float64(v[i])
		}
		score := dot
		if math.Sqrt(na) < 1e-6 || math.Sqrt(nb) < 1e-6 {
			score = 0
		}
		if score > 0 && score >= o.MinScore {
			cands = append(cands, cand{id, score})
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	k := o.K
	if k == 0 {
		k = 5
	}
	for _, c := range cands[:min(k, len(cands))] {
		var title, meta, date sql.NullString
		if err := db.QueryRow("SELECT title, meta, date FROM nodes WHERE id = ?", c.id).Scan(&title, &meta, &date); err != nil {
			t.Fatal(err)
		}
		h := resonance.SearchHit{ID: c.id, Score: c.score, Title: title.String, Date: date.String}
		if meta.String != "" {
			h.Meta = json.RawMessage(meta.String)
		}
		res.Hits = append(res.Hits, h)
	}
	return res
}

// randomSearchVector draws a vector of dimension dim from a few kinds:
// shared ones (exact ties), zero, below the 1e-6 magnitude, small integers
// (many equal scores), random floats of any sign, denormals.
func randomSearchVector(rng *rand.Rand, dim int, shared [][]float32) []float32 {
	v := make([]float32, dim)
	switch rng.IntN(8) {
	case 0:
		for _, s := range shared {
			if len(s) == dim {
				return s
			}
		}
	case 5: // a near-tie: a shared vector one float32 ulp away in one place
		for _, s := range shared {
			if len(s) == dim {
				copy(v, s)
				i := rng.IntN(dim)
				v[i] = math.Nextafter32(v[i], float32(math.Inf(rng.IntN(2)*2-1)))
				return v
			}
		}
	case 1: // zero
	case 2:
		for i := range v {
			v[i] = float32(rng.IntN(3)) * 1e-7 / float32(dim)
		}
	case 3:
		for i := range v {
			v[i] = float32(rng.IntN(5) - 1)
		}
	case 4:
		for i := range v {
			v[i] = math.Float32frombits(rng.Uint32() & 0x807fffff) // ±denormal
		}
		v[0] = 1
	default:
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

// TestSearchByVector_MatchesReference is a property test: on random graphs
// with duplicate vectors and near-ties, changed between searches (inserts,
// updates, embeddings removed, deletes by another connection, and inserts,
// updates and deletes by plain SQL in another process), every search of
// the store's copy in memory, of a store without a copy, of a store whose
// bound is too small for its copy, of a new store's first search (from the
// snapshot of the copy) and of a read transaction equals the brute-force
// reference exactly: the
// same ids in the same order, scores bit for bit, title, meta, date and the
// skipped count.
func TestSearchByVector_MatchesReference(t *testing.T) {
	if path := os.Getenv("RESONANCE_SEARCH_PROP_CHILD_DB"); path != "" {
		searchPropChild(t, path, os.Getenv("RESONANCE_SEARCH_PROP_CHILD_SEED"))
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	cached := openStoreAt(t, path, resonance.Options{})
	resonance.SetVectorSnapshotPartBytes(cached, 2<<10) // parts of a few vectors each
	uncached := openStoreAt(t, path, resonance.Options{VectorCacheBytes: -1})
	small := openStoreAt(t, path, resonance.Options{VectorCacheBytes: 64 << 10})
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	dims := []int{3, 4, 7, 384}
	shared := [][]float32{{1, 1, 0}, {1, 0, 0, 1}, {0.5, 0.25, 0, 0, 0, 0, 1}}
	big := make([]float32, 384)
	for i := range big {
		big[i] = float32(i%7) - 3
	}
	shared = append(shared, big)
	domains := []string{"", "knowledge", "lexicon"}
	types := []string{"doc", "note"}
	var ids []string
	write := func(n int) {
		for range n {
			var id string
			if len(ids) > 0 && rng.IntN(3) == 0 {
				id = ids[rng.IntN(len(ids))]
			} else {
				id = fmt.Sprintf("n%04d", len(ids))
				ids = append(ids, id)
			}
			node := resonance.Node{ID: id, Type: types[rng.IntN(len(types))], Domain: domains[rng.IntN(len(domains))],
				Title: "title of " + id, Date: fmt.Sprintf("2024-01-%02d", rng.IntN(28)+1)}
			if rng.IntN(2) == 0 {
				node.Meta = json.RawMessage(fmt.Sprintf(`{"n":%d}`, rng.IntN(100)))
			}
			if rng.IntN(10) != 0 {
				node.Embedding = randomSearchVector(rng, dims[rng.IntN(len(dims))], shared)
			}
			mustUpsert(t, cached, node)
		}
		if len(ids) > 0 && rng.IntN(3) == 0 {
			if _, err := raw.Exec("DELETE FROM nodes WHERE id = ?", ids[rng.IntN(len(ids))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	queries := 0
	for round := range 25 {
		write(20 + rng.IntN(40))
		if round%2 == 1 {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSearchByVector_MatchesReference$", "-test.count=1")
			cmd.Env = append(os.Environ(), "RESONANCE_SEARCH_PROP_CHILD_DB="+path, fmt.Sprintf("RESONANCE_SEARCH_PROP_CHILD_SEED=%d", round))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("round %d: the writing process: %v\n%s", round, err, out)
			}
		}
		for range 12 {
			dim := dims[rng.IntN(len(dims))]
			q := randomSearchVector(rng, dim, shared)
			var sq float64
			for _, x := range q {
				sq += float64(x) * float64(x)
			}
			if math.Sqrt(sq) < 1e-6 {
				q = append([]float32{1}, q[1:]...) // a query must not be zero
			}
			o := resonance.SearchOptions{K: []int{0, 1, 3, 10, 50, 1000}[rng.IntN(6)]}
			if rng.IntN(3) == 0 {
				o.Domain = domains[rng.IntN(len(domains))]
				if o.Domain == "" {
					o.Domain = "missing"
				}
			}
			if rng.IntN(3) == 0 {
				o.Type = types[rng.IntN(len(types))]
			}
			want := refSearch(t, raw, q, resonance.SearchOptions{Domain: o.Domain, Type: o.Type, K: 1 << 30})
			switch rng.IntN(4) {
			case 1:
				o.MinScore = 0.5
			case 2:
				o.MinScore = -1
			case 3:
				if len(want.Hits) > 0 { // exactly a score: >= keeps it
					o.MinScore = want.Hits[rng.IntN(len(want.Hits))].Score
				}
			}
			want = refSearch(t, raw, q, o)
			for _, sd := range []struct {
				name string
				s    *resonance.Store
			}{{"cached", cached}, {"uncached", uncached}, {"bound exceeded", small}} {
				got, err := sd.s.SearchByVector(ctx, q, o)
				if err != nil {
					t.Fatalf("round %d %s: %v", round, sd.name, err)
				}
				if diff := cmp.Diff(want, got, bitExactScores); diff != "" {
					t.Fatalf("round %d %s: query %v %+v (-reference +got):\n%s", round, sd.name, q, o, diff)
				}
			}
			if queries%3 == 0 {
				// A new store's first search, which answers from the
				// snapshot of the copy that cached wrote, and the rows
				// changed since.
				fresh, err := resonance.Open(ctx, path, resonance.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				got, err := fresh.SearchByVector(ctx, q, o)
				if err := errors.Join(err, fresh.Close()); err != nil {
					t.Fatalf("round %d new store: %v", round, err)
				}
				if diff := cmp.Diff(want, got, bitExactScores); diff != "" {
					t.Fatalf("round %d new store: query %v %+v (-reference +got):\n%s", round, q, o, diff)
				}
			}
			var got resonance.SearchResult
			err := cached.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) (err error) {
				got, err = tx.SearchByVector(ctx, q, o)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, bitExactScores); diff != "" {
				t.Fatalf("round %d Tx: query %v %+v (-reference +got):\n%s", round, q, o, diff)
			}
			queries++
		}
	}
	var snapshots int
	if err := raw.QueryRow("SELECT count(*) FROM vector_snapshot WHERE published = 1").Scan(&snapshots); err != nil || snapshots == 0 {
		t.Fatalf("%d snapshots of the copy (%v): the new stores' first searches had none to start from", snapshots, err)
	}
	t.Logf("%d nodes, %d queries", len(ids), queries)
}

// searchPropChild is the other process of TestSearchByVector_MatchesReference:
// with plain SQL, as an application might, it inserts nodes whose embedding
// is a stored one moved by one float32 ulp (a near-tie) or copied (a
// duplicate), changes embeddings, domains and types, and deletes nodes.
func searchPropChild(t *testing.T, path, seed string) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n uint64
	fmt.Sscan(seed, &n)
	rng := rand.New(rand.NewPCG(n, 99))
	rows, err := db.Query("SELECT id, embedding FROM nodes WHERE typeof(embedding) = 'blob' ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var embs [][]float32
	for rows.Next() {
		var id string
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		if v, err := resonance.DecodeEmbedding(b); err == nil && len(v) > 0 {
			ids, embs = append(ids, id), append(embs, v)
		}
	}
	rows.Close()
	if len(ids) == 0 {
		return
	}
	for i := range 10 {
		j := rng.IntN(len(ids))
		v := slices.Clone(embs[j])
		if rng.IntN(2) == 0 {
			k := rng.IntN(len(v))
			v[k] = math.Nextafter32(v[k], float32(math.Inf(rng.IntN(2)*2-1)))
		}
		b, err := resonance.EncodeEmbedding(v)
		if err != nil {
			continue
		}
		var q string
		var args []any
		switch rng.IntN(4) {
		case 0, 1:
			q, args = "INSERT INTO nodes (id, type, domain, title, embedding) VALUES (?, 'doc', 'knowledge', 'from sql', ?)", []any{fmt.Sprintf("sql%d-%d", n, i), b}
		case 2:
			q, args = "UPDATE nodes SET embedding = ?, type = 'note' WHERE id = ?", []any{b, ids[rng.IntN(len(ids))]}
		default:
			q, args = "DELETE FROM nodes WHERE id = ?", []any{ids[rng.IntN(len(ids))]}
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// bitExactScores compares float64 values bit for bit.
var bitExactScores = cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })

// TestStore_SearchByVector_ConcurrentWithWrites searches from several
// goroutines while another writes: each search sees a whole prefix of
// the writes (never a node without its predecessors, as each commit adds
// one), and the last search sees them all.
func TestStore_SearchByVector_ConcurrentWithWrites(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	const writes = 60
	q := []float32{1, 0}
	done := make(chan error, 5)
	go func() {
		for i := range writes {
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				return tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("n%03d", i), Type: "doc", Embedding: []float32{1, float32(i)}})
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 4 {
		go func() {
			for range 40 {
				res, err := s.SearchByVector(ctx, q, resonance.SearchOptions{K: writes})
				if err != nil {
					done <- err
					return
				}
				for i, h := range res.Hits { // every score is 1: insertion order
					if want := fmt.Sprintf("n%03d", i); h.ID != want {
						done <- fmt.Errorf("hit %d is %q, want %q: %v", i, h.ID, want, searchIDs(res))
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 5 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if res := mustSearch(t, s, q, resonance.SearchOptions{K: writes}); len(res.Hits) != writes {
		t.Errorf("after every write: %d hits, want %d", len(res.Hits), writes)
	}
}

// TestTx_SearchByVector: a write transaction's search sees its own
// uncommitted writes, a read transaction's sees its snapshot, and a
// handle kept past its function fails with sql.ErrTxDone.
func TestTx_SearchByVector(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	mustUpsert(t, s, resonance.Node{ID: "a", Type: "doc", Embedding: []float32{1, 0}})
	q := []float32{1, 0}
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "b", Type: "doc", Embedding: []float32{2, 0}}); err != nil {
			return err
		}
		res, err := tx.SearchByVector(ctx, q, resonance.SearchOptions{})
		if diff := cmp.Diff([]string{"b", "a"}, searchIDs(res)); diff != "" || err != nil {
			t.Errorf("inside the write transaction: %v, hits (-want +got):\n%s", err, diff)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("the transaction did not roll back")
	}
	var kept *resonance.ReadTx
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		kept = r
		res, err := r.SearchByVector(ctx, q, resonance.SearchOptions{})
		if diff := cmp.Diff([]string{"a"}, searchIDs(res)); diff != "" || err != nil {
			t.Errorf("after the rollback: %v, hits (-want +got):\n%s", err, diff)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.SearchByVector(ctx, q, resonance.SearchOptions{}); !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("a ReadTx kept past its function: %v, want sql.ErrTxDone", err)
	}
}

// TestSearchByVector_StoredEmbeddingsOtherProgramsWrote: a NaN embedding
// scores nothing, as in the original, and a blob that is not whole float32
// values is skipped and counted, from the copy in memory, from a scan and
// inside a Read alike (D10).
func TestSearchByVector_StoredEmbeddingsOtherProgramsWrote(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]resonance.Options{"copy": {}, "scan": {VectorCacheBytes: -1}} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t, o)
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO nodes (id, type, embedding) VALUES
				('nan-node', 'doc', X'0000C07F0000803F'), ('short-node', 'doc', X'0000803F00'), ('good', 'doc', X'0000803F00000000'),
				('text-node', 'doc', 'abcdefgh'), ('integer-node', 'doc', 4702111234474983745), ('real-node', 'doc', 1.5)`); err != nil {
				t.Fatal(err)
			}
			// Text, an integer or a real is no float32 vector, whatever its
			// bytes: skipped and counted ('abcdefgh' as float bytes would
			// score 1.67e22, and the integer's 8 bytes too).
			check := func(where string, res resonance.SearchResult, err error) {
				t.Helper()
				if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != "good" || res.Skipped != 4 {
					t.Errorf("%s: %+v, %v; want the one good hit and 4 skipped", where, res, err)
				}
			}
			res, err := s.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{})
			check("Store", res, err)
			err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
				res, err := r.SearchByVector(ctx, []float32{1, 0}, resonance.SearchOptions{})
				check("Read", res, err)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
