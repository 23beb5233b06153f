package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/examples/notes/notesdb"
	"github.com/resonance-graph/resonancedb/resonance"
)

func openTemp(t *testing.T) (*resonance.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notes.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestAddNote_NodeAndNoteReadBackTogether(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := AddNote(ctx, s, resonance.Node{ID: "doc-1", Type: "document", Title: "First"}, "three short words"); err != nil {
		t.Fatal(err)
	}
	n, notes, err := Notes(ctx, s, "doc-1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Title != "First" || len(notes) != 1 || notes[0].Body != "three short words" || notes[0].Words != 3 || notes[0].Title.String != "First" {
		t.Errorf("read back node %+v, notes %+v; want the node and its note, 3 words", n, notes)
	}
}

// TestTx_GeneratedQueriesAndGraphAPIAreAtomic checks that the node the
// graph API writes and the row the application's query writes commit or
// roll back together.
func TestTx_GeneratedQueriesAndGraphAPIAreAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	abort := errors.New("abort")
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if err := tx.UpsertNode(ctx, resonance.Node{ID: "doc-2", Type: "document"}); err != nil {
			return err
		}
		if _, err := notesdb.New(tx).AddNote(ctx, notesdb.AddNoteParams{NodeID: "doc-2", Body: "never kept"}); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatalf("Tx = %v, want the abort", err)
	}
	var count int64
	err = s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		if _, err := tx.GetNode(ctx, "doc-2"); !errors.Is(err, resonance.ErrNotFound) {
			t.Errorf("GetNode after the rollback: %v, want ErrNotFound", err)
		}
		count, err = notesdb.New(tx).CountNotes(ctx)
		return err
	})
	if err != nil || count != 0 {
		t.Errorf("notes after the rollback: %d, %v; want none", count, err)
	}
	// An empty note fails its CHECK constraint, and the node AddNote wrote
	// before it in the same transaction is not kept either.
	if _, err := AddNote(ctx, s, resonance.Node{ID: "doc-3", Type: "document"}, ""); err == nil {
		t.Fatal("AddNote of an empty note succeeded")
	}
	if _, err := s.Reads().GetNode(ctx, "doc-3"); !errors.Is(err, resonance.ErrNotFound) {
		t.Errorf("GetNode after the failed AddNote: %v, want ErrNotFound", err)
	}
}

func TestRun_WritesAndReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.db")
	for i, body := range []string{"the library keeps the graph", "the application keeps notes"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"-db", path, "doc-1", "First document", body}, &out, &errb); code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, errb.String())
		}
		if !strings.Contains(out.String(), body) || !strings.Contains(out.String(), `"First document"`) {
			t.Errorf("run %d printed %q, want the node and the note", i, out.String())
		}
		if i == 1 && !strings.Contains(out.String(), "2 note(s)") {
			t.Errorf("second run printed %q, want both notes", out.String())
		}
	}
}

// TestSearch_FTS5BesideTheGraph: the notes are found by full-text search
// through the FTS5 table of the application's migrations, and a note
// removed with its node (ON DELETE CASCADE) leaves the index too. It needs
// the build tag sqlite_fts5 (go test -tags sqlite_fts5); without it the
// store does not open: "no such module: fts5".
func TestSearch_FTS5BesideTheGraph(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for _, n := range []struct{ id, body string }{
		{"doc-1", "the checkpoint copies the WAL into the database"},
		{"doc-2", "readers see one snapshot"},
		{"doc-3", "a checkpoint waits for readers"},
	} {
		if _, err := AddNote(ctx, s, resonance.Node{ID: n.id, Type: "document"}, n.body); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(query string) []string {
		t.Helper()
		hits, err := Search(ctx, s, query)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.NodeID)
		}
		sort.Strings(got)
		return got
	}
	if got := ids("checkpoint"); strings.Join(got, " ") != "doc-1 doc-3" {
		t.Errorf("search checkpoint: %q, want doc-1 and doc-3", got)
	}
	if got := ids("checkpoint AND readers"); strings.Join(got, " ") != "doc-3" {
		t.Errorf("search checkpoint AND readers: %q, want doc-3", got)
	}
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.DeleteNodes(ctx, "doc-3") }); err != nil {
		t.Fatal(err)
	}
	if got := ids("checkpoint"); strings.Join(got, " ") != "doc-1" {
		t.Errorf("search checkpoint after deleting doc-3: %q, want doc-1 alone", got)
	}
}

// TestConformance runs the library's conformance checks on the
// application's database, with the options the application opens it with.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if _, err := AddNote(ctx, s, resonance.Node{ID: "doc-1", Type: "document"}, "checked"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep := conformance.CheckDatabase(ctx, path, Options())
	for _, f := range rep.Failures() {
		t.Errorf("%s: %s (fix: %s)", f.Rule, f.Detail, f.Fix)
	}
	// Opened without the application's migrations, the library refuses
	// the database rather than guess (M4).
	if _, err := resonance.Open(ctx, path, resonance.Options{}); !errors.Is(err, resonance.ErrSchemaMismatch) {
		t.Errorf("open without the application's migrations: %v, want ErrSchemaMismatch", err)
	}
}
