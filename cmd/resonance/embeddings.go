package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/resonance"
)

// badEmbeddings returns the ids of the nodes whose stored embedding is not
// a whole finite float32 vector (D9: not a BLOB, a length that is not a
// multiple of 4, NaN or ±Inf), each with what is wrong. The store never
// writes one; another program, or the original, may have.
func badEmbeddings(ctx context.Context, s *resonance.Store) (ids, why []string, err error) {
	err = s.Read(ctx, func(ctx context.Context, r *resonance.ReadTx) error {
		rows, err := r.QueryContext(ctx, `SELECT id, typeof(embedding), embedding FROM nodes WHERE embedding IS NOT NULL`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, typ string
			var b []byte
			if err := rows.Scan(&id, &typ, &b); err != nil {
				return err
			}
			var problem string
			if typ != "blob" {
				problem = "stored as " + strings.ToUpper(typ) + ", not a BLOB"
			} else if _, err := resonance.DecodeEmbedding(b); err != nil {
				problem = err.Error()
			} else {
				continue
			}
			ids = append(ids, id)
			why = append(why, fmt.Sprintf("node %q: %s", id, problem))
		}
		return rows.Err()
	})
	return ids, why, err
}

// embeddingFix says how to repair the embeddings of the nodes ids of the
// database at path: a new one by import, or none.
func embeddingFix(path string, ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + strings.ReplaceAll(id, "'", "''") + "'"
	}
	update := "UPDATE nodes SET embedding = NULL WHERE id IN (" + strings.Join(quoted, ", ") + ")"
	return fmt.Sprintf("import each of these nodes again with a valid \"embedding\" (an import line replaces the whole node; export writes them without it), or clear the column: sqlite3 %s %s", fsfix.Quote(path), fsfix.Quote(update))
}
