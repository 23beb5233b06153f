package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

const statsHelp = "Print node, edge, vector and semantic-token counts, the database size and the WAL size (D6).\n\n" +
	"Opens the database read-only: nothing is written and no migration is applied."

const vacuumHelp = "Rebuild the database file, returning free pages to the file system (VACUUM).\n\n" +
	"It needs the database to itself: it rewrites the whole file under the write lock, for longer than\n" +
	"another process's writer waits, so it refuses (exit 1, nothing changed) while another process has\n" +
	"the database open, naming it.\n" +
	"With --incremental it runs PRAGMA incremental_vacuum instead, which works only on a database\n" +
	"whose auto_vacuum is INCREMENTAL and frees up to --pages pages (0: all)."

func vacuumFlags(fs *flag.FlagSet) {
	fs.Bool("incremental", false, "run PRAGMA incremental_vacuum instead of VACUUM")
	fs.Int("pages", 0, "with --incremental, free at most `N` pages (0: every free page)")
}

const analyzeHelp = "Gather the statistics the query planner uses (ANALYZE)."

const optimizeHelp = "Run PRAGMA optimize: analyze the tables whose statistics look stale. Cheap; Close runs it too."

const integrityHelp = "Run PRAGMA integrity_check on a read-only connection; exit 1 listing the problems.\n\n" +
	"A damaged database is best restored from a backup: a `resonance backup` copy, or the\n" +
	"pre-migration copies in backups/ beside it."

const backupHelp = "Write a consistent, compacted copy of the database to DEST while writers keep writing (O2).\n\n" +
	"DEST must not exist, and may never be the database, its -wal, -shm or -journal (under any\n" +
	"name), a device or a directory. The copy is written to a temporary file and linked into place\n" +
	"when it is complete, so a failed backup leaves nothing behind; the temporary files of a killed\n" +
	"backup to DEST are removed by the next one. Progress shows on stderr when it is a terminal.\n" +
	"--verify opens the copy afterwards and runs integrity_check on it."

func backupFlags(fs *flag.FlagSet) {
	fs.Bool("verify", false, "open the copy and run integrity_check on it; exit 1 if it fails")
	progressFlag(fs)
}

func runStats(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Stats(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		err = writeJSON(e.stdout, struct {
			DB string `json:"db"`
			resonance.Stats
		}{s.Path(), st})
	} else {
		err = printStats(e, s.Path(), st)
	}
	if err != nil {
		return err
	}
	return s.Close()
}

// printStats prints st as a table; path, when not empty, comes first.
func printStats(e *env, path string, st resonance.Stats) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if path != "" {
		fmt.Fprintf(tw, "database\t%s\n", path)
	}
	fmt.Fprintf(tw, "nodes\t%s\n", thousands(st.Nodes))
	fmt.Fprintf(tw, "edges\t%s\n", thousands(st.Edges))
	fmt.Fprintf(tw, "nodes with vectors\t%s\n", thousands(st.Vectors))
	fmt.Fprintf(tw, "nodes with semantic_tokens\t%s\n", thousands(st.SemanticTokens))
	fmt.Fprintf(tw, "database size\t%s (%d bytes)\n", humanBytes(st.DBSizeBytes), st.DBSizeBytes)
	fmt.Fprintf(tw, "WAL size\t%s (%d bytes)\n", humanBytes(st.WALSizeBytes), st.WALSizeBytes)
	return tw.Flush()
}

// maintResult is what vacuum, analyze and optimize print.
type maintResult struct {
	DB          string        `json:"db"`
	Op          string        `json:"op"`
	Duration    time.Duration `json:"duration_ns"`
	BytesBefore int64         `json:"db_size_bytes_before"`
	BytesAfter  int64         `json:"db_size_bytes_after"`
}

// maintenance returns the run function of a command that calls op on a
// read-write store and reports how long it took.
func maintenance(name string, op func(*resonance.Store, context.Context) error) func(*env, *flag.FlagSet) error {
	return func(e *env, fs *flag.FlagSet) error {
		if err := noArgs(fs); err != nil {
			return err
		}
		return runMaintenance(e, name, func(s *resonance.Store) error { return op(s, e.ctx) })
	}
}

func runMaintenance(e *env, name string, op func(*resonance.Store) error) error {
	s, err := openStore(e, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	r := maintResult{DB: s.Path(), Op: name, BytesBefore: fileSize(s.Path())}
	start := time.Now()
	if err := op(s); err != nil {
		return err
	}
	r.Duration = time.Since(start)
	if err := s.Close(); err != nil {
		return err
	}
	r.BytesAfter = fileSize(r.DB)
	if e.json {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "%s %s: done in %v (file %s, was %s)\n", name, r.DB, r.Duration.Round(time.Millisecond),
		humanBytes(r.BytesAfter), humanBytes(r.BytesBefore))
	return nil
}

func runVacuum(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	pages := intFlag(fs, "pages")
	if !boolFlag(fs, "incremental") {
		if pages != 0 {
			return usagef("--pages needs --incremental")
		}
		return runMaintenance(e, "vacuum", func(s *resonance.Store) error { return s.Vacuum(e.ctx) })
	}
	if pages < 0 {
		return usagef("--pages is %d: want 0 (every free page) or more", pages)
	}
	return runMaintenance(e, "incremental vacuum", func(s *resonance.Store) error { return s.IncrementalVacuum(e.ctx, pages) })
}

func runIntegrity(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	problems, err := s.IntegrityCheck(e.ctx)
	if err != nil {
		return err
	}
	damaged := len(problems)
	var badIDs, bad []string
	if damaged == 0 { // reading a damaged file would fail on the damage again
		if badIDs, bad, err = badEmbeddings(e.ctx, s); err != nil {
			return err
		}
		problems = append(problems, bad...)
	}
	if e.json {
		if err := writeJSON(e.stdout, map[string]any{"db": s.Path(), "ok": len(problems) == 0, "problems": problems}); err != nil {
			return err
		}
	} else if len(problems) == 0 {
		fmt.Fprintf(e.stdout, "integrity_check %s: ok\n", s.Path())
	} else {
		fmt.Fprintf(e.stdout, "integrity_check %s: %s:\n", s.Path(), plural(int64(len(problems)), "problem"))
		for _, p := range problems {
			fmt.Fprintf(e.stdout, "  %s\n", p)
		}
	}
	if damaged > 0 {
		fmt.Fprintf(e.stderr, "resonance: integrity %q: the database is damaged (%s); restore it from a backup (resonance backup, or %s)\n",
			s.Path(), plural(int64(damaged), "problem"), "backups/ beside the database")
	}
	if len(bad) > 0 {
		fmt.Fprintf(e.stderr, "resonance: integrity %q: D9 %s with a stored embedding that is not a whole finite float32 vector; %s\n",
			s.Path(), plural(int64(len(bad)), "node"), embeddingFix(s.Path(), badIDs))
	}
	if len(problems) > 0 {
		return checkFailed{fmt.Errorf("integrity_check found %s", plural(int64(len(problems)), "problem"))}
	}
	return s.Close()
}

// backupResult is what backup prints.
type backupResult struct {
	DB       string        `json:"db"`
	Dest     string        `json:"dest"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
	Verified bool          `json:"verified"`
	Problems []string      `json:"problems,omitempty"`
}

func runBackup(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 {
		return usagef("want one DEST file")
	}
	prog, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	dest := fs.Arg(0)
	s, err := openStore(e, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	err = s.Backup(e.ctx, dest, func(done, total int64) {
		prog.draw(fmt.Sprintf("backup %s %s", bar(done, total, 30), prog.of(done, total, humanBytes)), done == total)
	})
	prog.clear()
	if err != nil {
		return err
	}
	r := backupResult{DB: s.Path(), Dest: dest, Bytes: fileSize(dest), Duration: prog.elapsed()}
	if err := s.Close(); err != nil {
		return err
	}
	if boolFlag(fs, "verify") {
		c, err := resonance.Open(e.ctx, dest, e.options(resonance.Options{ReadOnly: true}))
		if err != nil {
			return fmt.Errorf("resonance: backup: verifying %q: %w", dest, bare(err))
		}
		r.Problems, err = c.IntegrityCheck(e.ctx)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("resonance: backup: verifying %q: %w", dest, bare(err))
		}
		r.Verified = len(r.Problems) == 0
	}
	if e.json {
		err = writeJSON(e.stdout, r)
	} else {
		fmt.Fprintf(e.stdout, "backup of %s written to %s (%s) in %v\n", r.DB, r.Dest, humanBytes(r.Bytes), r.Duration.Round(time.Millisecond))
		if r.Verified {
			fmt.Fprintln(e.stdout, "verified: integrity_check ok")
		}
	}
	if err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(e.stderr, "resonance: backup: the copy %q fails integrity_check: %v; the source may be damaged: run `resonance integrity`\n", dest, r.Problems)
		return checkFailed{fmt.Errorf("backup copy fails integrity_check")}
	}
	return nil
}

// fileSize returns the size of the file at path, 0 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
