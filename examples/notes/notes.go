// Command notes is an application built on resonancedb: it keeps notes
// about the nodes of a Resonance Graph in a table of its own, written by
// its own sqlc-generated queries inside the library's transactions.
//
// It shows each step an application takes:
//
//   - its migrations (migrations/) add a table to the library's schema and
//     are applied with the library's at Open, exactly once, backed up first;
//   - sqlc reads the combined schema: the library's migrations, written
//     into resonance-schema/ by `go tool resonance schema`, then its own;
//   - its generated queries (notesdb/) run in Store.Tx and Store.Read
//     beside the graph API, in one transaction;
//   - a connect hook registers word_count, which its queries use, on every
//     connection;
//   - an FTS5 table (migrations/, built with -tags sqlite_fts5) indexes
//     the notes for full-text search;
//   - its CI (ci.sh) checks the generated code and runs the conformance
//     checks on a database of its own.
package main

//go:generate go tool resonance schema resonance-schema
//go:generate go tool sqlc generate

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/examples/notes/notesdb"
	"github.com/resonance-graph/resonancedb/resonance"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options are the options every open of the application's database uses:
// its migrations and its connect hook. The library and its conformance
// checks take the same.
func Options() resonance.Options {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	return resonance.Options{Migrations: []fs.FS{migrations}, ConnectHook: registerFunctions}
}

// Open opens the application's database at path, creating it when needed.
func Open(ctx context.Context, path string) (*resonance.Store, error) {
	o := Options()
	o.Create = true
	return resonance.Open(ctx, path, o)
}

// registerFunctions is the connect hook: it runs on every connection the
// library opens, after the library has hardened it.
func registerFunctions(c *sqlite3.SQLiteConn) error {
	return c.RegisterFunc("word_count", wordCount, true)
}

func wordCount(s string) int64 { return int64(len(strings.Fields(s))) }

// AddNote writes the node n and a note about it in one transaction: both
// are stored, or neither.
func AddNote(ctx context.Context, s *resonance.Store, n resonance.Node, body string) (id int64, err error) {
	err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, n); err != nil {
			return err
		}
		id, err = notesdb.New(tx).AddNote(ctx, notesdb.AddNoteParams{NodeID: n.ID, Body: body})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notes: add a note to %q: %w", n.ID, err)
	}
	return id, nil
}

// Notes reads the node id and its notes in one read transaction, so that
// both come from the same snapshot.
func Notes(ctx context.Context, s *resonance.Store, id string) (n resonance.Node, notes []notesdb.NotesOfRow, err error) {
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		if n, err = tx.GetNode(ctx, id); err != nil {
			return err
		}
		notes, err = notesdb.New(tx).NotesOf(ctx, id)
		return err
	})
	if err != nil {
		return n, nil, fmt.Errorf("notes: read %q: %w", id, err)
	}
	return n, notes, nil
}

// Search returns the notes whose body matches query, an FTS5 query
// ("wal AND checkpoint", "check*"), best match first.
func Search(ctx context.Context, s *resonance.Store, query string) (hits []notesdb.SearchNotesRow, err error) {
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		hits, err = notesdb.New(tx).SearchNotes(ctx, query)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notes: search %q: %w", query, err)
	}
	return hits, nil
}
