package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

// searchDB returns a database holding a few nodes with embeddings.
func searchDB(t *testing.T) string {
	t.Helper()
	path := newDB(t)
	s, err := resonance.Open(context.Background(), path, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []resonance.Node{
		{ID: "a", Type: "doc", Title: "Alpha", Embedding: []float32{1, 0, 0}, Date: "2024-01-01"},
		{ID: "b", Type: "doc", Title: "Beta", Embedding: []float32{0.8, 0.6, 0}},
		{ID: "c", Type: "note", Title: "Gamma", Embedding: []float32{0, 1, 0}, Domain: "lexicon"},
		{ID: "d", Type: "doc", Title: "Delta", Embedding: []float32{-1, 0, 0}},
		{ID: "e", Type: "doc", Title: "Two", Embedding: []float32{1, 0}},
		{ID: "f", Type: "doc", Title: "None"},
	} {
		if err := s.Tx(context.Background(), func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func searchIDsOf(res searchResult) []string {
	ids := []string{}
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestSearch(t *testing.T) {
	db := searchDB(t)
	vec := filepath.Join(t.TempDir(), "q.json")
	if err := os.WriteFile(vec, []byte("[1, 0.5, 0]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var res searchResult
	decode(t, mustCLI(t, 0, "", "--db", db, "search", "--vector", vec, "--json"), &res)
	want := searchResult{DB: db, SearchResult: resonance.SearchResult{
		Hits: []resonance.SearchHit{
			{ID: "b", Score: float64(float32(0.8)) + 0.5*float64(float32(0.6)), Title: "Beta"},
			{ID: "a", Score: 1, Title: "Alpha", Date: "2024-01-01"},
			{ID: "c", Score: 0.5, Title: "Gamma"},
		},
		Skipped: 1,
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("search --vector --json (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		args []string
		ids  []string
	}{
		{[]string{"--vector", "-", "--k", "2"}, []string{"b", "a"}},
		{[]string{"--vector", "-", "--type", "doc"}, []string{"b", "a"}},
		{[]string{"--vector", "-", "--domain", "lexicon"}, []string{"c"}},
		{[]string{"--vector", "-", "--min-score", "0.9"}, []string{"b", "a"}},
		{[]string{"--like", "a"}, []string{"b"}},
		{[]string{"--like", "b", "--k", "1"}, []string{"a"}},
		{[]string{"--like", "c"}, []string{"b"}},
	} {
		var res searchResult
		args := append([]string{"--db", db, "--json", "search"}, tc.args...)
		decode(t, mustCLI(t, 0, "[1, 0.5, 0]", args...), &res)
		if diff := cmp.Diff(tc.ids, searchIDsOf(res)); diff != "" {
			t.Errorf("search %v (-want +got):\n%s", tc.args, diff)
		}
	}

	r := mustCLI(t, 0, "[1, 0.5, 0]", "--db", db, "search", "--vector", "-", "--k", "2")
	if want := "1.100000023841858\tb\tBeta\t\n1\ta\tAlpha\t2024-01-01\n"; r.stdout != want {
		t.Errorf("search, not on a terminal: %q, want one tab-separated line per hit", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 embedding of another dimension") {
		t.Errorf("stderr %q does not report the skipped embedding", r.stderr)
	}
	var tbl strings.Builder
	res.Hits = want.Hits
	if err := printHits(&tbl, res.SearchResult, true); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(tbl.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "#") || !strings.Contains(lines[1], "1.1000") {
		t.Errorf("table:\n%s", tbl.String())
	}
}

func TestSearch_Errors(t *testing.T) {
	db := searchDB(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"", []string{"search"}, 2, "--vector FILE or --like ID"},
		{"", []string{"search", "--vector", "-", "--like", "a"}, 2, "either"},
		{"[1]", []string{"search", "--vector", "-", "--k", "0"}, 2, "--k is 0"},
		{"", []string{"search", "--vector", filepath.Join(dir, "missing.json")}, 2, "missing.json"},
		{"", []string{"search", "--vector", file("bad.json", `{"a":1}`)}, 2, "bad.json\" is not a JSON array of numbers"},
		{"[1e40]", []string{"search", "--vector", "-"}, 2, "standard input is not a JSON array"},
		{"[]", []string{"search", "--vector", "-"}, 2, "empty"},
		{"[0, 0, 0]", []string{"search", "--vector", "-"}, 2, "magnitude"},
		{"[1]", []string{"search", "--vector", "-", "extra"}, 2, "unexpected argument"},
		{"", []string{"search", "--like", "a", "--min-score", "NaN"}, 2, "--min-score is NaN"},
		{"", []string{"search", "--like", "nobody"}, 1, "not found"},
		{"", []string{"search", "--like", "f"}, 1, "has no embedding"},
		{"[null, 1]", []string{"search", "--vector", "-"}, 2, "value 0 is null"},
		{"[1, null]", []string{"search", "--vector", "-"}, 2, "value 1 is null"},
		{"[1]", []string{"search", "--vector", "-", "--k", "9223372036854775807"}, 2, "--k is 9223372036854775807: want at most"},
		{"", []string{"search", "--like", "a", "--k", "9223372036854775807"}, 2, "--k is 9223372036854775807: want at most"},
		// Just under 16 MiB: refused once the first MiB is read.
		{"[" + strings.Repeat("1,", 8<<20-64) + "1]", []string{"search", "--vector", "-"}, 2, "larger than 1 MiB"},
		{"", []string{"search", "--vector", file("huge.json", "["+strings.Repeat("1,", 8<<20-64)+"1]")}, 2, "larger than 1 MiB"},
	} {
		r := mustCLI(t, tc.code, tc.stdin, append([]string{"--db", db}, tc.args...)...)
		if !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: stderr %q, want it to say %q", tc.args, r.stderr, tc.msg)
		}
	}
}

// TestSearch_CorruptStoredEmbedding: embeddings another program stored
// with NaN in them, or as a blob that is not whole float32 values, do not
// break the search: the NaN one scores nothing, as in the original, and the
// other is skipped and counted on stderr.
func TestSearch_CorruptStoredEmbedding(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init")
	raw, err := resonance.Connect(t.Context(), db, resonance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 0x7FC00000 is a float32 NaN, little-endian; 0x3F800000 is 1.
	if _, err := raw.Exec(`INSERT INTO nodes (id, type, embedding) VALUES
		('nan-node', 'doc', X'0000C07F0000803F'), ('short-node', 'doc', X'0000803F00'), ('good', 'doc', X'0000803F00000000')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	r := mustCLI(t, 0, "[1, 0]", "--db", db, "search", "--vector", "-", "--json")
	var res resonance.SearchResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("search --json: %v\n%s", err, r.stdout)
	}
	if len(res.Hits) != 1 || res.Hits[0].ID != "good" || res.Skipped != 1 {
		t.Errorf("search over stored NaN and short embeddings = %+v, want the one good hit and 1 skipped", res)
	}
}
