// Command resonance manages a Resonance Graph database: it creates and
// migrates it, checks its health, checkpoints, maintains, backs up, imports
// and exports it, and benchmarks the library.
//
// Usage:
//
//	resonance [--db PATH] [--migrations DIR] [--json] [--external-checkpoints] COMMAND [flags] [args]
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
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

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

// command is one subcommand. run returns an error; errors of type usageError
// exit 2, others exit 1.
type command struct {
	name    string
	args    string // synopsis of the arguments after the flags
	summary string
	flags   func(fs *flag.FlagSet) // registers command-specific flags
	run     func(e *env, fs *flag.FlagSet) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// checkFailed marks an error whose report was already printed: the command
// exits 1 without printing it again.
type checkFailed struct{ err error }

func (c checkFailed) Error() string { return c.err.Error() }
func (c checkFailed) Unwrap() error { return c.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globalFlags registers the flags every command accepts, before or after
// the command name. Their defaults are e's current values, so a flag given
// before the command survives the command's own parse.
func globalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.dbPath, "db", e.dbPath, "database file ($RESONANCE_DB, else "+defaultDB+")")
	fs.BoolVar(&e.json, "json", e.json, "print machine-readable JSON")
	fs.BoolVar(&e.external, "external-checkpoints", e.external,
		"leave WAL checkpoints to a replicator such as Litestream ($"+envExternal+"=1); see README, Replication")
	fs.Var(&e.migrations, "migrations", "`DIR` of the application's own migrations, applied and known beside the embedded ones; repeat it or give a comma list ($"+migrationsEnv+")")
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
	globalFlags(top, e)
	top.Usage = func() { printUsage(stderr) }
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := top.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			if c, ok := commands[rest[1]]; ok {
				fs := commandFlags(c, e, stdout)
				fs.Usage()
				return exitOK
			}
			fmt.Fprintf(stderr, "resonance: unknown command %q\n", rest[1])
			return exitUsage
		}
		printUsage(stdout)
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "resonance: unknown command %q; run `resonance help` for the list\n", name)
		return exitUsage
	}
	fs := commandFlags(c, e, stderr)
	if err := parseInterleaved(fs, rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	// Before any file is opened: with too few descriptors left, the Go
	// runtime would abort the process at the first open.
	err := resonance.StartPoller()
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

// commandFlags builds the flag set of c, with the global flags repeated so
// they may also follow the command name.
func commandFlags(c *command, e *env, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("resonance "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	globalFlags(fs, e)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: resonance %s [flags] %s\n\n%s\n\nflags:\n", c.name, c.args, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: resonance [--db PATH] [--migrations DIR] [--json] [--external-checkpoints] COMMAND [flags] [args]

The database is --db, else $RESONANCE_DB, else `+defaultDB+`.
An application's own migrations come from --migrations DIR (repeat it, or a
comma list), else $`+migrationsEnv+`: every command applies and knows them
beside the embedded ones.
--external-checkpoints (or $`+envExternal+`=1) leaves WAL checkpoints to a
replicator such as Litestream: run it on every command under Litestream.
Exit status: 0 ok, 1 a check failed, 2 bad usage.

commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-12s %s\n", n, firstLine(c.summary))
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
