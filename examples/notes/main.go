package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/resonance-graph/resonancedb/resonance"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run writes a node and a note about it, then reads back the node and all
// its notes: `notes [-db PATH] NODE TITLE BODY`; or, with -search QUERY,
// prints the notes that match the full-text query.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "notes.db", "database `file` (created when missing)")
	search := fs.String("search", "", "print the notes matching the full-text `QUERY` instead of adding one")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: notes [-db PATH] NODE TITLE BODY\n       notes [-db PATH] -search QUERY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *search != "" && fs.NArg() == 0 {
		return runSearch(ctx, *db, *search, stdout, stderr)
	}
	if fs.NArg() != 3 || *search != "" {
		fs.Usage()
		return 2
	}
	s, err := Open(ctx, *db)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer s.Close()
	id, title, body := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	if _, err := AddNote(ctx, s, resonance.Node{ID: id, Type: "document", Title: title}, body); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	n, notes, err := Notes(ctx, s, id)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "node %s %q: %d note(s)\n", n.ID, n.Title, len(notes))
	for _, note := range notes {
		fmt.Fprintf(stdout, "  #%d (%d words) %s\n", note.ID, note.Words, note.Body)
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// runSearch prints the notes of the database at db that match query, one
// line each: the node and the note.
func runSearch(ctx context.Context, db, query string, stdout, stderr io.Writer) int {
	s, err := Open(ctx, db)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer s.Close()
	hits, err := Search(ctx, s, query)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, h := range hits {
		fmt.Fprintf(stdout, "%s: %s\n", h.NodeID, h.Body)
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
