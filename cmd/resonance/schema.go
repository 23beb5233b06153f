package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/resonance-graph/resonancedb/schema"
)

const schemaHelp = "Write the library's embedded migrations into DIR, for sqlc to read beside the application's own (A3).\n\n" +
	"An application generates its typed queries over the combined schema: its sqlc.yaml lists DIR\n" +
	"first, then its own migrations directory. Run it from go generate, with the resonance the\n" +
	"application's go.mod requires, so DIR always matches the library it links:\n\n" +
	"\t//go:generate go tool resonance schema DIR\n\n" +
	"DIR holds the library's migrations only: a migration file in it that is not one of them is\n" +
	"refused, never removed. With --check nothing is written: exit 1 when DIR is stale (a file\n" +
	"missing, changed, or not the library's), for the application's CI."

func schemaFlags(fs *flag.FlagSet) {
	fs.Bool("check", false, "write nothing; exit 1 when DIR differs from the embedded migrations")
}

// migrationName matches dbmate's migration file names, as the library does.
var migrationName = regexp.MustCompile(`^\d+.*\.sql$`)

// schemaResult is what schema prints.
type schemaResult struct {
	Dir     string   `json:"dir"`
	Files   []string `json:"files"`             // the embedded migrations
	Written []string `json:"written,omitempty"` // files written (or, with --check, that would be)
	Foreign []string `json:"foreign,omitempty"` // migration files in DIR that are not the library's
	Current bool     `json:"current"`           // DIR holds exactly the embedded migrations
}

func runSchema(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 {
		return usagef("want one DIR (e.g. `resonance schema db/resonance-schema`)")
	}
	dir, check := fs.Arg(0), boolFlag(fs, "check")
	r, err := compareSchema(dir)
	if err != nil {
		return err
	}
	if !check && len(r.Foreign) == 0 && len(r.Written) > 0 {
		if err := writeSchema(dir, r.Written); err != nil {
			return err
		}
		r.Current = true
	}
	if e.json {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	}
	switch {
	case len(r.Foreign) > 0:
		return fmt.Errorf("resonance: schema %q: %q are not the library's migrations: keep the application's migrations in a directory of their own; remove them from %s if an older resonance wrote them", dir, r.Foreign, dir)
	case check && !r.Current:
		if !e.json {
			fmt.Fprintf(e.stderr, "resonance: schema %q is stale: %q differ from the migrations of this resonance; run `resonance schema %s` (go generate) and regenerate the queries\n", dir, r.Written, dir)
		}
		return checkFailed{errors.New("schema directory is stale")}
	case e.json:
	case check:
		fmt.Fprintf(e.stdout, "%s is up to date: %s\n", dir, plural(int64(len(r.Files)), "migration"))
	case len(r.Written) > 0:
		fmt.Fprintf(e.stdout, "wrote %d of %s to %s\n", len(r.Written), plural(int64(len(r.Files)), "migration"), dir)
	default:
		fmt.Fprintf(e.stdout, "%s is up to date: %s\n", dir, plural(int64(len(r.Files)), "migration"))
	}
	return nil
}

// compareSchema lists the embedded migrations that dir lacks or holds with
// other content, and the migration files in dir that are not embedded.
func compareSchema(dir string) (schemaResult, error) {
	r := schemaResult{Dir: dir}
	names, err := fs.Glob(schema.FS, "*.sql")
	if err != nil {
		return r, err
	}
	r.Files = names
	for _, name := range names {
		want, err := fs.ReadFile(schema.FS, name)
		if err != nil {
			return r, err
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("resonance: schema %q: %w", dir, err)
		}
		if !bytes.Equal(got, want) || err != nil {
			r.Written = append(r.Written, name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("resonance: schema %q: %w", dir, err)
	}
	for _, ent := range entries {
		if migrationName.MatchString(ent.Name()) && !slices.Contains(names, ent.Name()) {
			r.Foreign = append(r.Foreign, ent.Name())
		}
	}
	r.Current = len(r.Written) == 0 && len(r.Foreign) == 0
	return r, nil
}

// writeSchema writes the named embedded migrations into dir, each through a
// temporary file renamed over the old one, so that an interrupted run
// leaves no half-written migration for sqlc to read.
func writeSchema(dir string, names []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resonance: schema %q: %w", dir, err)
	}
	for _, name := range names {
		data, err := fs.ReadFile(schema.FS, name)
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
		if err != nil {
			return fmt.Errorf("resonance: schema %q: %w", dir, err)
		}
		_, err = tmp.Write(data)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("resonance: schema %q: writing %s: %w", dir, name, err)
		}
	}
	return nil
}
