// Command resonance manages a Resonance Graph database: it creates and
// migrates it, checks its health, checkpoints, maintains, backs up,
// restores, imports and exports it, shows, lists, walks and deletes its
// nodes and edges, reads its history, and benchmarks the library.
//
// Usage:
//
//	resonance [--db FILE] [--migrations DIR] [--json] [--external-checkpoints] COMMAND [flags] [args]
//
// The database comes from --db, else $RESONANCE_DB, else
// .resonance/resonance.db. An application's own migrations, applied and
// known together with the embedded ones, come from --migrations (repeated,
// or a comma list), else $RESONANCE_MIGRATIONS. --external-checkpoints (or
// $RESONANCE_EXTERNAL_CHECKPOINTS=1) leaves checkpoints to a replicator
// such as Litestream. Exit status: 0 ok, 1 a check failed, 2 bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/resonance-graph/resonancedb/bench"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/resonance-graph/resonancedb/internal/poller"
	"github.com/resonance-graph/resonancedb/resonance"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const defaultDB = ".resonance/resonance.db"

// env is what every command runs with.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	dbPath string
	json   bool
	// external is --external-checkpoints (or $RESONANCE_EXTERNAL_CHECKPOINTS):
	// every command that opens the database read-write leaves checkpoints
	// to a replicator such as Litestream (R1).
	external bool
	// migrations are the application's migration directories (A2).
	migrations migrationDirs
}

// envExternal turns on --external-checkpoints for every command.
const envExternal = "RESONANCE_EXTERNAL_CHECKPOINTS"

// command is one subcommand: a row of commands.
type command struct {
	name string
	// args is the rest of the usage line: the required flags and the
	// positional arguments, e.g. "(--vector FILE | --like ID)" or "DEST".
	args string
	// help is the text `resonance help NAME` prints under the usage line;
	// its first line is the one `resonance help` lists.
	help string
	// noDB marks a command that does not open the database: of the global
	// flags it takes --json only.
	noDB  bool
	flags func(fs *flag.FlagSet) // registers the command's own flags, or nil
	run   func(e *env, fs *flag.FlagSet) error
}

// commands are the subcommands, in the order `resonance help` lists them.
// Adding a command is a row here and its run function.
var commands = []command{
	{name: "init", help: initHelp, flags: initFlags, run: runInit},
	{name: "migrate", args: "up|status", help: migrateHelp, flags: migrateFlags, run: runMigrate},
	{name: "health", help: healthHelp, run: runHealth},
	{name: "doctor", args: "[PATH]", help: doctorHelp, flags: doctorFlags, run: runDoctor},
	{name: "stats", help: statsHelp, run: runStats},
	{name: "import", args: "FILE|-", help: importHelp, flags: importFlags, run: runImport},
	{name: "export", args: "[FILE|-]", help: exportHelp, flags: exportFlags, run: runExport},
	{name: "search", args: "(--vector FILE | --like ID)", help: searchHelp, flags: searchFlags, run: runSearch},
	{name: "show", args: "ID", help: showHelp, run: runShow},
	{name: "ls", help: lsHelp, flags: lsFlags, run: runLs},
	{name: "edges", args: "ID", help: edgesHelp, flags: edgesFlags, run: runEdges},
	{name: "rm", args: "(ID... | --edge SOURCE TARGET TYPE)", help: rmHelp, flags: rmFlags, run: runRm},
	{name: "history", args: "[ID]", help: historyHelp, flags: historyFlags, run: runHistory},
	{name: "backup", args: "DEST", help: backupHelp, flags: backupFlags, run: runBackup},
	{name: "restore", args: "BACKUP", help: restoreHelp, flags: restoreFlags, run: runRestore},
	{name: "checkpoint", help: checkpointHelp, run: runCheckpoint},
	{name: "vacuum", help: vacuumHelp, flags: vacuumFlags, run: runVacuum},
	{name: "analyze", help: analyzeHelp, run: maintenance("analyze", (*resonance.Store).Analyze)},
	{name: "optimize", help: optimizeHelp, run: maintenance("optimize", (*resonance.Store).Optimize)},
	{name: "integrity", help: integrityHelp, run: runIntegrity},
	{name: "schema", args: "DIR", help: schemaHelp, noDB: true, flags: schemaFlags, run: runSchema},
	{name: "bench", help: benchHelp, noDB: true, flags: benchFlags, run: runBench},
	{name: "version", help: versionHelp, noDB: true, run: runVersion},
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// checkFailed marks an error whose report was already printed: the command
// exits 1 without printing it again.
type checkFailed struct{ err error }

func (c checkFailed) Error() string { return c.err.Error() }
func (c checkFailed) Unwrap() error { return c.err }

func main() {
	bench.FirstSearchChild() // returns unless this process is P7's child
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globalFlags registers the global flags that c takes (all of them when c
// is nil), which may come before or after the command name. Their defaults
// are e's current values, so a flag given before the command survives the
// command's own parse.
func globalFlags(fs *flag.FlagSet, e *env, c *command) {
	fs.BoolVar(&e.json, "json", e.json, "print machine-readable JSON")
	if c != nil && c.noDB {
		return
	}
	fs.StringVar(&e.dbPath, "db", e.dbPath, "the database `FILE`; $RESONANCE_DB sets the default")
	fs.Var(&e.migrations, "migrations", "`DIR` of the application's own migrations, applied and known beside the embedded ones; repeat it or give a comma list ($"+migrationsEnv+")")
	fs.BoolVar(&e.external, "external-checkpoints", e.external,
		"leave WAL checkpoints to a replicator such as Litestream ($"+envExternal+"=1); see README, Replication")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, dbPath: os.Getenv("RESONANCE_DB"), migrations: envMigrationDirs()}
	if e.dbPath == "" {
		e.dbPath = defaultDB
	}
	if v := os.Getenv(envExternal); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			fmt.Fprintf(stderr, "resonance: $%s is %q: set it to 1 (external checkpoints) or 0\n", envExternal, v)
			return exitUsage
		}
		e.external = on
	}
	top := flag.NewFlagSet("resonance", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() {}
	globalFlags(top, e, nil)
	version := top.Bool("version", false, "print the versions, as the version command does")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		fmt.Fprintln(stderr, "run `resonance help` for usage")
		return exitUsage
	}
	rest := top.Args()
	if *version && len(rest) == 0 {
		if err := printVersion(e); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		return exitOK
	}
	if len(rest) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		switch {
		case len(rest) == 1:
			printUsage(stdout)
			return exitOK
		case len(rest) == 2 && lookup(rest[1]) != nil:
			printHelp(stdout, lookup(rest[1]), commandFlags(lookup(rest[1]), e, stderr))
			return exitOK
		case len(rest) == 2:
			fmt.Fprintf(stderr, "resonance: unknown command %q; run `resonance help` for the list\n", rest[1])
		default:
			fmt.Fprintln(stderr, "resonance: help takes at most one command name")
		}
		return exitUsage
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "resonance: unknown command %q; run `resonance help` for the list\n", name)
		return exitUsage
	}
	fs := commandFlags(c, e, stderr)
	var foreign []string
	top.Visit(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			foreign = append(foreign, "--"+f.Name)
		}
	})
	if len(foreign) > 0 {
		fmt.Fprintf(stderr, "resonance %s: %s: %s does not use the database; run `resonance %s -h` for its flags\n", name, strings.Join(foreign, ", "), name, name)
		return exitUsage
	}
	if err := parseInterleaved(fs, rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, c, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "run `resonance %s -h` for usage\n", name)
		return exitUsage
	}
	// Before any file is opened: with too few descriptors left, the Go
	// runtime would abort the process at the first open.
	err := poller.Start()
	if err != nil {
		err = fmt.Errorf("resonance: %s: %w", name, err)
	} else {
		err = e.migrations.check()
	}
	if err == nil {
		err = c.run(e, fs)
	}
	var ue usageError
	var cf checkFailed
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "resonance %s: %s\n", name, ue.msg)
		fmt.Fprintf(stderr, "run `resonance %s -h` for usage\n", name)
		return exitUsage
	case errors.As(err, &cf):
		return exitFail
	default:
		msg := explain(err)
		if e.json {
			writeJSON(stdout, map[string]string{"error": msg})
		}
		fmt.Fprintln(stderr, msg)
		return exitFail
	}
}

// commandFlags builds the flag set of c: its own flags, then the global
// flags it takes, so they may also follow the command name. Parse errors
// go to errOut; help is printed by the caller.
func commandFlags(c *command, e *env, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("resonance "+c.name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {}
	if c.flags != nil {
		c.flags(fs)
	}
	globalFlags(fs, e, c)
	return fs
}

// printHelp prints the help of c, whose flag set is fs.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	usage := "resonance " + c.name
	var own, global []*flag.Flag
	g := flag.NewFlagSet("", flag.ContinueOnError)
	globalFlags(g, &env{}, c)
	fs.VisitAll(func(f *flag.Flag) {
		if g.Lookup(f.Name) != nil {
			global = append(global, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own)+len(global) > 0 {
		usage += " [flags]"
	}
	if c.args != "" {
		usage += " " + c.args
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", usage, c.help)
	printFlags(w, "flags", own)
	printFlags(w, "global flags (also before the command name)", global)
}

// printFlags lists flags under title as the go command's tools do, with
// two dashes, the value's name and the default when it is not the zero
// value.
func printFlags(w io.Writer, title string, flags []*flag.Flag) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, f := range flags {
		value, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if value != "" {
			line += " " + value
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: resonance [--db FILE] [--migrations DIR] [--json] [--external-checkpoints] COMMAND [flags] [args]
       resonance --version

The database is --db, else $RESONANCE_DB, else `+defaultDB+`.
An application's own migrations come from --migrations DIR (repeat it, or a
comma list), else $`+migrationsEnv+`: every command applies and knows them
beside the embedded ones.
--external-checkpoints (or $`+envExternal+`=1) leaves WAL checkpoints to a
replicator such as Litestream: run it on every command under Litestream.
Exit status: 0 ok, 1 a check failed, 2 bad usage.

commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, firstLine(c.help))
	}
	fmt.Fprintln(w, "\nrun `resonance help COMMAND` or `resonance COMMAND -h` for a command's flags.")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// bare returns err without the "resonance: " its text begins with, for a
// message that carries the prefix already; errors.Is and errors.As still
// see err.
func bare(err error) error {
	msg, ok := strings.CutPrefix(err.Error(), "resonance: ")
	if !ok {
		return err
	}
	return bareError{msg, err}
}

type bareError struct {
	msg string
	err error
}

func (b bareError) Error() string { return b.msg }
func (b bareError) Unwrap() error { return b.err }

// noArgs refuses positional arguments for commands that take none.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`migrate status --json`); afterwards fs.Args() holds
// the positional arguments in order. A "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}
