package resonance

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/resonance-graph/resonancedb/db"
)

// Stats counts the graph and measures its files (D6): nodes, edges, nodes
// with an embedding, nodes whose meta object has a semantic_tokens key
// (found with json_type, whatever its value, never by text search), the
// database size as page_count × page_size, and the size of the -wal file
// (0 when there is none). The counts come from one snapshot.
//
// It returns ErrClosed on a closed store, ErrBusy if the database stayed
// locked past the busy timeout.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	q, done, err := s.reads.enter(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("resonance: stats %q: %w", s.path, err)
	}
	defer done()
	r, err := q.q.GraphStats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("resonance: stats %q: %w", s.path, classify(err))
	}
	st := Stats{Nodes: r.Nodes, Edges: r.Edges, Vectors: r.Vectors, SemanticTokens: r.SemanticTokens}
	var pages, size int64
	// PRAGMAs are outside what sqlc parses.
	if err := q.conn.QueryRowContext(ctx, "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT page_size FROM pragma_page_size())").Scan(&pages, &size); err != nil {
		return Stats{}, fmt.Errorf("resonance: stats %q: page count: %w", s.path, classify(err))
	}
	st.DBSizeBytes = pages * size
	st.WALSizeBytes = fileSize(s.path + "-wal")
	return st, nil
}

// Lexicon returns the concepts of the lexicon (D5): nodes with domain
// "lexicon" and type "concept", ordered by id. Label is the node's title;
// Aliases are the non-empty strings of meta.aliases (an array of strings;
// a single string counts as one alias; other values are ignored) and an empty,
// non-nil slice without them; Definition is meta.definition when it is a
// non-empty string, else the node's summary.
//
// It returns an error wrapping ErrInvalid, naming the node, when a
// concept's stored meta is not valid JSON (only writes that bypass this
// package can store that).
func (r *ReadTx) Lexicon(ctx context.Context) ([]LexiconEntry, error) {
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: lexicon: %w", err)
	}
	defer done()
	return lexicon(ctx, r.q)
}

func lexicon(ctx context.Context, q *db.Queries) ([]LexiconEntry, error) {
	rows, err := q.ListLexicon(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: lexicon: %w", classify(err))
	}
	out := make([]LexiconEntry, len(rows))
	for i := range rows {
		r := &rows[i]
		e := LexiconEntry{ID: r.ID, Label: r.Title.String, Aliases: []string{}, Definition: r.Summary.String}
		if r.Meta.Valid && r.Meta.String != "" {
			var m struct {
				Aliases    json.RawMessage `json:"aliases"`
				Definition json.RawMessage `json:"definition"`
			}
			if err := json.Unmarshal([]byte(r.Meta.String), &m); err != nil {
				return nil, fmt.Errorf("resonance: lexicon: node %q: %w: stored meta is not a JSON object: %w", r.ID, ErrInvalid, err)
			}
			e.Aliases = aliases(m.Aliases)
			var def string
			if json.Unmarshal(m.Definition, &def) == nil && def != "" {
				e.Definition = def
			}
		}
		out[i] = e
	}
	return out, nil
}

// aliases reads meta.aliases leniently: the strings of an array, or a
// single string.
func aliases(raw json.RawMessage) []string {
	out := []string{}
	if len(raw) == 0 {
		return out
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one != "" {
			out = append(out, one)
		}
		return out
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil {
		return out
	}
	for _, m := range many {
		var s string
		if json.Unmarshal(m, &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	return out
}
