// Command dbmate is dbmate's command line with the SQLite driver only.
//
// The resonancedb build, its conformance tests and the example
// application's CI need dbmate only against SQLite; the upstream command
// links the drivers of PostgreSQL, MySQL, ClickHouse and BigQuery too,
// which makes a cold build several times longer. This one runs the same
// library (github.com/amacneil/dbmate/v2/pkg/dbmate, at the version go.mod
// pins) with the same flags and commands, so its output is dbmate's:
//
//	dbmate [--url URL] [--migrations-dir DIR]... [--no-dump-schema] COMMAND
//
// Commands: new NAME, up, create, drop, migrate, rollback (down), status
// [--exit-code] [--quiet], dump, load. Unlike upstream it reads no .env
// file: the URL comes from --url or the variable --env names.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	_ "github.com/amacneil/dbmate/v2/pkg/driver/sqlite"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// dirs is the value of the repeatable --migrations-dir.
type dirs []string

func (d *dirs) String() string { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error {
	*d = append(*d, v)
	return nil
}

const usage = `usage: dbmate [flags] COMMAND [command flags]

dbmate's command line with the SQLite driver only (URL sqlite:PATH).

commands:
  new NAME     write a new migration file to the first --migrations-dir
  up           create the database if needed and apply pending migrations
  create       create the database
  drop         drop the database
  migrate      apply pending migrations
  rollback     roll back the newest migration (also: down)
  status       list migrations and whether each is applied
               (--exit-code: exit 1 when some are pending; --quiet: print nothing)
  dump         write the schema file
  load         load the schema file

flags:
`

func run(args []string, stdout, stderr io.Writer) int {
	defaults := dbmate.New(nil)
	fs := flag.NewFlagSet("dbmate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		rawURL, envName, table, schema string
		noDump, strict, verbose, ver   bool
		migrationDirs                  dirs
	)
	for _, name := range []string{"url", "u"} {
		fs.StringVar(&rawURL, name, "", "the database `URL`, e.g. sqlite:db/app.db")
	}
	for _, name := range []string{"env", "e"} {
		fs.StringVar(&envName, name, "DATABASE_URL", "the environment `VARIABLE` that holds the URL when --url is not given")
	}
	for _, name := range []string{"migrations-dir", "d"} {
		fs.Var(&migrationDirs, name, "a `DIR` of migrations; repeat it for several ($DBMATE_MIGRATIONS_DIR; default "+defaults.MigrationsDir[0]+")")
	}
	fs.StringVar(&table, "migrations-table", defaults.MigrationsTableName, "the `TABLE` that records applied migrations")
	for _, name := range []string{"schema-file", "s"} {
		fs.StringVar(&schema, name, defaults.SchemaFile, "the schema `FILE` up and migrate write (needs the sqlite3 command)")
	}
	fs.BoolVar(&noDump, "no-dump-schema", false, "do not write the schema file after up, migrate and rollback")
	fs.BoolVar(&strict, "strict", false, "with up and migrate: fail when a pending migration is older than an applied one")
	fs.BoolVar(&verbose, "verbose", false, "print the result of each statement")
	fs.BoolVar(&ver, "version", false, "print dbmate's version")
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if ver {
		fmt.Fprintln(stdout, "dbmate version", dbmate.Version, "(SQLite only)")
		return 0
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if rawURL == "" {
		rawURL = os.Getenv(envName)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	db := dbmate.New(u)
	db.Log = stdout
	db.AutoDumpSchema = !noDump
	db.MigrationsTableName = table
	db.SchemaFile = schema
	db.Strict = strict
	db.Verbose = verbose
	switch {
	case len(migrationDirs) > 0:
		db.MigrationsDir = migrationDirs
	case os.Getenv("DBMATE_MIGRATIONS_DIR") != "":
		db.MigrationsDir = strings.Split(os.Getenv("DBMATE_MIGRATIONS_DIR"), ",")
	}

	cmd, cargs := rest[0], rest[1:]
	switch cmd {
	case "new", "n":
		if len(cargs) != 1 {
			err = dbmate.ErrNoMigrationName
		} else {
			err = db.NewMigration(cargs[0])
		}
	case "up":
		err = noArgs(cmd, cargs, db.CreateAndMigrate)
	case "create":
		err = noArgs(cmd, cargs, db.Create)
	case "drop":
		err = noArgs(cmd, cargs, db.Drop)
	case "migrate":
		err = noArgs(cmd, cargs, db.Migrate)
	case "rollback", "down":
		err = noArgs(cmd, cargs, db.Rollback)
	case "dump":
		err = noArgs(cmd, cargs, db.DumpSchema)
	case "load":
		err = noArgs(cmd, cargs, db.LoadSchema)
	case "status":
		sf := flag.NewFlagSet("dbmate status", flag.ContinueOnError)
		sf.SetOutput(stderr)
		exitCode := sf.Bool("exit-code", false, "exit 1 when some migrations are pending")
		quiet := sf.Bool("quiet", false, "print nothing")
		if err := sf.Parse(cargs); err != nil {
			return 2
		}
		var pending int
		pending, err = db.Status(*quiet)
		if err == nil && *exitCode && pending > 0 {
			return 1
		}
	default:
		fmt.Fprintf(stderr, "Error: unknown command %q; run dbmate --help for the list\n", cmd)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	return 0
}

// noArgs runs f when the command got no arguments.
func noArgs(cmd string, args []string, f func() error) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", cmd, args)
	}
	return f()
}
