package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
)

func TestStore_Stats(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	nodes := []resonance.Node{
		{ID: "a", Type: "doc", Embedding: []float32{1, 2}, Meta: json.RawMessage(`{"semantic_tokens":["x"]}`)},
		{ID: "b", Type: "doc", Embedding: []float32{3}, Meta: json.RawMessage(`{"semantic_tokens":null}`)},
		{ID: "c", Type: "doc", Meta: json.RawMessage(`{"note":"semantic_tokens","x":{"semantic_tokens":1}}`)},
		{ID: "d", Type: "doc"},
		{ID: "e", Type: "doc", Embedding: []float32{}},
	}
	for _, n := range nodes {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatal(err)
		}
	}
	// Meta written by another tool that is not JSON must not break Stats.
	if _, err := s.DB().Exec(`INSERT INTO nodes (id, type, meta) VALUES ('f', 'doc', 'semantic_tokens: not json')`); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}} {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.InsertEdge(ctx, e[0], e[1], "") }); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pages, size int64
	s.DB().QueryRow(`PRAGMA page_count`).Scan(&pages)
	s.DB().QueryRow(`PRAGMA page_size`).Scan(&size)
	fi, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	want := resonance.Stats{
		Nodes: 6, Edges: 3, Vectors: 2,
		SemanticTokens: 2, // a and b: by key at the top level, not by text
		DBSizeBytes:    pages * size,
		WALSizeBytes:   fi.Size(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if got.WALSizeBytes == 0 || got.DBSizeBytes == 0 {
		t.Errorf("sizes = %d, %d: want both above 0 on an open WAL database", got.DBSizeBytes, got.WALSizeBytes)
	}
	s.Close()
	if _, err := s.Stats(ctx); !errors.Is(err, resonance.ErrClosed) {
		t.Errorf("Stats on a closed store = %v, want ErrClosed", err)
	}
}

func TestStore_Lexicon(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	nodes := []resonance.Node{
		{ID: "lex-b", Type: "concept", Domain: "lexicon", Title: "Beta", Summary: "from summary"},
		{ID: "lex-a", Type: "concept", Domain: "lexicon", Title: "Alpha", Summary: "ignored",
			Meta: json.RawMessage(`{"aliases":["alpha","α"],"definition":"the first letter"}`)},
		{ID: "lex-c", Type: "concept", Domain: "lexicon", Title: "Gamma", Summary: "fallback",
			Meta: json.RawMessage(`{"aliases":"gamma","definition":""}`)},
		{ID: "lex-d", Type: "concept", Domain: "lexicon", Meta: json.RawMessage(`{"aliases":[1,"delta",null]}`)},
		{ID: "not-concept", Type: "doc", Domain: "lexicon", Title: "No"},
		{ID: "not-lexicon", Type: "concept", Title: "No"},
	}
	for _, n := range nodes {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatal(err)
		}
	}
	got, err := lexiconOf(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want := []resonance.LexiconEntry{
		{ID: "lex-a", Label: "Alpha", Aliases: []string{"alpha", "α"}, Definition: "the first letter"},
		{ID: "lex-b", Label: "Beta", Aliases: []string{}, Definition: "from summary"},
		{ID: "lex-c", Label: "Gamma", Aliases: []string{"gamma"}, Definition: "fallback"},
		{ID: "lex-d", Aliases: []string{"delta"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Lexicon (-want +got):\n%s", diff)
	}
	// Aliases is never nil, so JSON output shows [] rather than null.
	b, _ := json.Marshal(got[1])
	if want := `{"id":"lex-b","label":"Beta","aliases":[],"definition":"from summary"}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		inTx, err := tx.Lexicon(ctx)
		if diff := cmp.Diff(want, inTx); diff != "" {
			t.Errorf("Tx.Lexicon (-want +got):\n%s", diff)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A concept whose meta another tool stored as non-JSON is named.
	if _, err := s.DB().Exec(`INSERT INTO nodes (id, type, domain, meta) VALUES ('lex-bad', 'concept', 'lexicon', '{oops')`); err != nil {
		t.Fatal(err)
	}
	if _, err := lexiconOf(ctx, s); !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), `"lex-bad"`) {
		t.Errorf("Lexicon with corrupt meta = %v, want ErrInvalid naming lex-bad", err)
	}
}

func lexiconOf(ctx context.Context, s *resonance.Store) (out []resonance.LexiconEntry, err error) {
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		out, err = r.Lexicon(ctx)
		return err
	})
	return out, err
}
