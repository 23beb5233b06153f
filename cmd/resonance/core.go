package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

const initHelp = "Create the database (and its directory) if needed, apply migrations, print health and stats.\n\n" +
	"With --example it also imports the bundled example graph (a few hundred nodes with\n" +
	"embeddings, and their edges) in one transaction, unless it is there already, so running\n" +
	"it twice changes nothing. A database made by the original is converted first, as `migrate up`\n" +
	"does, with the same progress line."

func initFlags(fs *flag.FlagSet) {
	fs.Bool("example", false, "import the bundled example graph")
	progressFlag(fs)
}

const migrateHelp = "Apply pending migrations (up) or list every migration and whether it is applied (status).\n\n" +
	"On a database made by the original, status says what up will do, and up converts it (X1):\n" +
	"a backup first, then one transaction; while the rows are copied, a progress line shows on\n" +
	"stderr when it is a terminal."

func migrateFlags(fs *flag.FlagSet) {
	progressFlag(fs)
}

const healthHelp = "Check the connection settings (C1-C9) and run a write/read probe. Exit 1 when unhealthy."

const checkpointHelp = "Run a TRUNCATE checkpoint of the WAL and report busy, log and checkpointed frames."

// openStore opens the database of e, with the application's migrations;
// the warnings the store logs go to stderr. Under --external-checkpoints
// every store leaves checkpoints to a replicator (R1), read-only ones too:
// the last connection to close would otherwise checkpoint and remove the
// WAL.
//
// A read-write open converts a database made by the original (X1): only
// init and migrate up may do that (openConverting); every other command
// refuses such a database, saying what it found and how to convert it, and
// changes nothing.
func openStore(e *env, o resonance.Options) (*resonance.Store, error) {
	if !o.ReadOnly {
		// An error here is the open's to report.
		if org, _ := resonance.InspectOriginal(e.ctx, e.dbPath, e.options(resonance.Options{})); org != nil {
			return nil, notConverted(e, org)
		}
	}
	return openConverting(e, o, nil)
}

// notConverted is the refusal of a command other than init and migrate up
// on a database made by the original.
func notConverted(e *env, org *resonance.Original) error {
	path := e.dbPath
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	up := "resonance migrate up --db " + shellQuote(path)
	for _, d := range e.migrations.dirs {
		up += " --migrations " + shellQuote(d)
	}
	return fmt.Errorf("resonance: open %q: %w: the database was made by the original (%d nodes, %d edges) and is not converted yet; "+
		"only `resonance migrate up` and `resonance init` convert it, and nothing was changed: run `%s` once (it writes a backup first; `resonance migrate status` shows what it will do)",
		path, resonance.ErrSchemaMismatch, org.Rows["nodes"], org.Rows["edges"], up)
}

// openConverting is openStore for init and migrate up, which convert a
// database made by the original. prog, unless nil, draws the rows the
// conversion has copied; the store's warnings clear its line first, so each
// starts on a line of its own.
func openConverting(e *env, o resonance.Options, prog *progress) (*resonance.Store, error) {
	ctx := e.ctx
	if o.Logger == nil {
		o.Logger = newWarnLogger(clearFirst{prog, e.stderr})
	}
	if prog != nil {
		ctx = resonance.WithProgress(ctx, func(done, total int64) {
			if done == 0 {
				prog.restart() // the time left counts from the copy's start, not the backup's
			}
			prog.draw(fmt.Sprintf("converting %s rows %s", bar(done, total, 30), prog.of(done, total, thousands)), done == total)
		})
		defer prog.clear()
	}
	o = e.options(o)
	o.ExternalCheckpoints = e.external
	if !o.Create {
		if err := notCreated(e.dbPath, o.ReadOnly); err != nil {
			return nil, err
		}
	}
	return resonance.Open(ctx, e.dbPath, o)
}

func runInit(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	prog, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	s, err := openConverting(e, resonance.Options{Create: true}, prog)
	if err != nil {
		return err
	}
	defer s.Close()
	var ex *exampleResult
	if boolFlag(fs, "example") {
		r, err := importExample(e.ctx, s)
		if err != nil {
			return err
		}
		ex = &r
	}
	h, herr := s.Health(e.ctx)
	st, err := s.Stats(e.ctx)
	if err != nil {
		return err
	}
	if e.json {
		if err := writeJSON(e.stdout, struct {
			DB string `json:"db"`
			healthReport
			Stats   resonance.Stats `json:"stats"`
			Example *exampleResult  `json:"example,omitempty"`
		}{s.Path(), healthReport{healthStatus(herr), h}, st, ex}); err != nil {
			return err
		}
	} else {
		if ex != nil {
			if ex.Imported {
				fmt.Fprintf(e.stdout, "imported the example graph: %s, %s\n\n", plural(int64(ex.Nodes), "node"), plural(int64(ex.Edges), "edge"))
			} else {
				fmt.Fprintf(e.stdout, "%s; nothing imported\n\n", ex.Note)
			}
		}
		if err := printHealth(e, s.Path(), h, herr); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
		if err := printStats(e, "", st); err != nil {
			return err
		}
	}
	if herr != nil {
		return checkFailed{herr}
	}
	return s.Close()
}

func runMigrate(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 || (fs.Arg(0) != "up" && fs.Arg(0) != "status") {
		return usagef("want `migrate up` or `migrate status`")
	}
	o := resonance.Options{}
	if fs.Arg(0) == "status" {
		// status must not migrate: a read-only store refuses pending
		// migrations, so read the versions through the status call only.
		return migrateStatus(e)
	}
	// A database made by the original is converted by the open (X1); say
	// so afterwards. An error here is the open's to report.
	prog, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	org, _ := resonance.InspectOriginal(e.ctx, e.dbPath, e.options(o))
	s, err := openConverting(e, o, prog)
	if err != nil {
		return err
	}
	defer s.Close()
	ms, err := resonance.MigrationStatusOf(e.ctx, s.Path(), e.options(o))
	if err != nil {
		return err
	}
	if org != nil {
		if err := printAdopted(e, org, ms); err != nil {
			return err
		}
		return s.Close()
	}
	if err := printMigrations(e, ms); err != nil {
		return err
	}
	return s.Close()
}

func migrateStatus(e *env) error {
	ms, err := resonance.MigrationStatusOf(e.ctx, e.dbPath, e.options(resonance.Options{ExternalCheckpoints: e.external}))
	if err != nil {
		return err
	}
	org, err := resonance.InspectOriginal(e.ctx, e.dbPath, e.options(resonance.Options{}))
	if err != nil {
		return err
	}
	if org != nil {
		found, plan := originalReport(org, e.dbPath)
		if e.json {
			return writeJSON(e.stdout, map[string]any{"migrations": ms, "original": org, "plan": plan})
		}
		fmt.Fprintf(e.stdout, "%s: %s\n`resonance migrate up` (or `init`, or a read-write resonance.Open) will:\n", e.dbPath, found)
		for i, step := range plan {
			fmt.Fprintf(e.stdout, "  %d. %s\n", i+1, step)
		}
		fmt.Fprintln(e.stdout)
	}
	if err := printMigrations(e, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if m.File == "" {
			fmt.Fprintf(e.stderr, "resonance: migrate status %q: the database records migration %s that this binary does not know; %s\n", e.dbPath, m.Version, migrationsHint())
			return checkFailed{fmt.Errorf("unknown migration %s", m.Version)}
		}
	}
	return nil
}

func printMigrations(e *env, ms []resonance.MigrationStatus) error {
	if e.json {
		return writeJSON(e.stdout, map[string]any{"migrations": ms})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tFILE")
	for _, m := range ms {
		state := "pending"
		switch {
		case m.File == "":
			state = "UNKNOWN (an application's: --migrations DIR? a newer release?)"
		case m.Applied:
			state = "applied"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Version, state, m.File)
	}
	return tw.Flush()
}

func runHealth(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	s, err := openStore(e, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	h, herr := s.Health(e.ctx)
	if err := printHealth(e, s.Path(), h, herr); err != nil {
		return err
	}
	if herr != nil {
		return checkFailed{herr}
	}
	return s.Close()
}

// healthReport is the JSON of health and init: the library's report and
// its verdict.
type healthReport struct {
	Status string `json:"status"` // "healthy" or "unhealthy"
	resonance.Health
}

// healthStatus is the verdict of a health check that returned err.
func healthStatus(err error) string {
	if err != nil {
		return "unhealthy"
	}
	return "healthy"
}

func printHealth(e *env, path string, h resonance.Health, herr error) error {
	if e.json {
		return writeJSON(e.stdout, struct {
			DB string `json:"db"`
			healthReport
		}{path, healthReport{healthStatus(herr), h}})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s\n", path)
	fmt.Fprintf(tw, "status\t%s\n", healthStatus(herr))
	fmt.Fprintf(tw, "journal_mode\t%s\n", h.Settings["journal_mode"])
	fmt.Fprintf(tw, "busy_timeout\t%s ms\n", h.Settings["busy_timeout"])
	fmt.Fprintf(tw, "synchronous\t%s\n", synchronousName(h.Settings["synchronous"]))
	fmt.Fprintf(tw, "mmap_size\t%s\n", h.Settings["mmap_size"])
	fmt.Fprintf(tw, "temp_store\t%s\n", tempStoreName(h.Settings["temp_store"]))
	fmt.Fprintf(tw, "foreign_keys\t%s\n", onOff(h.Settings["foreign_keys"]))
	fmt.Fprintf(tw, "write probe\t%s\n", h.WriteProbe)
	for _, p := range h.Problems {
		fmt.Fprintf(tw, "problem\t%s\n", p)
	}
	return tw.Flush()
}

func runCheckpoint(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	if e.external {
		return usagef("refused under --external-checkpoints ($%s): checkpoints belong to the replicator (Litestream checkpoints the WAL itself); run without the flag only when no replicator runs", envExternal)
	}
	s, err := openStore(e, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	c, err := s.Checkpoint(e.ctx)
	if err != nil {
		return err
	}
	cp := checkpointResult{c, time.Since(start)}
	if e.json {
		if err := writeJSON(e.stdout, cp); err != nil {
			return err
		}
	} else {
		printCheckpoint(e.stdout, cp)
	}
	return s.Close()
}

// checkpointResult is the checkpoint command's report: the library's and
// how long it took.
type checkpointResult struct {
	resonance.Checkpoint
	Duration time.Duration `json:"duration_ns"`
}

func printCheckpoint(w io.Writer, cp checkpointResult) {
	took := cp.Duration.Round(time.Microsecond)
	switch {
	case cp.OtherCheckpoint:
		fmt.Fprintf(w, "checkpoint not run: another connection (another process, or a replicator such as Litestream) was checkpointing the WAL; -wal is %d bytes, took %v; run it again later\n",
			cp.WALBytes, took)
	case cp.Busy:
		fmt.Fprintf(w, "checkpoint partial (busy: readers or writers were using the WAL): %d of %s checkpointed, -wal now %d bytes, took %v\n",
			cp.Checkpointed, plural(int64(cp.LogFrames), "WAL frame"), cp.WALBytes, took)
	default:
		fmt.Fprintf(w, "checkpoint complete: %d of %s checkpointed, -wal now %d bytes, took %v\n",
			cp.Checkpointed, plural(int64(cp.LogFrames), "WAL frame"), cp.WALBytes, took)
	}
}

// synchronousName is the keyword of PRAGMA synchronous's value n, as the
// SQLite documentation writes it.
func synchronousName(n string) string {
	return settingName(n, "OFF", "NORMAL", "FULL", "EXTRA")
}

// tempStoreName is the keyword of PRAGMA temp_store's value n.
func tempStoreName(n string) string {
	return settingName(n, "DEFAULT", "FILE", "MEMORY")
}

// onOff is the keyword of a boolean PRAGMA's value n.
func onOff(n string) string { return settingName(n, "OFF", "ON") }

// settingName is names[n], or n itself when it is no index of names.
func settingName(n string, names ...string) string {
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || i >= len(names) {
		return n
	}
	return names[i]
}

// settingsLine is the connection settings of h in words.
func settingsLine(h resonance.Health) string {
	return fmt.Sprintf("journal_mode %s, busy_timeout %s ms, synchronous %s, mmap_size %s, temp_store %s, foreign_keys %s",
		h.Settings["journal_mode"], h.Settings["busy_timeout"], synchronousName(h.Settings["synchronous"]), h.Settings["mmap_size"],
		tempStoreName(h.Settings["temp_store"]), onOff(h.Settings["foreign_keys"]))
}

// notCreated returns the CLI's error for a database that does not exist
// yet (or, for a read-only open, is an empty file), which says to run
// init; nil otherwise. The library says the same in a program's terms.
func notCreated(path string, readOnly bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("resonance: open %q: %w: create the database with `resonance init --db %s`", path, fs.ErrNotExist, shellQuote(path))
	case err == nil && readOnly && fi.Mode().IsRegular() && fi.Size() == 0:
		return fmt.Errorf("resonance: open %q: the file is empty, not a database yet, and a read-only command writes nothing: create the database with `resonance init --db %s`", path, shellQuote(path))
	}
	return nil
}
