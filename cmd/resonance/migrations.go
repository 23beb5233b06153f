package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/resonance-graph/resonancedb/resonance"
)

// migrationsEnv names the environment variable that lists the
// application's migration directories, as --migrations does.
const migrationsEnv = "RESONANCE_MIGRATIONS"

// migrationDirs is the value of --migrations: the application's migration
// directories, applied and known together with the embedded ones (A2).
// The flag may be repeated and each value may be a comma list. The value
// starts as $RESONANCE_MIGRATIONS; the first --migrations replaces it.
type migrationDirs struct {
	dirs    []string
	fromEnv bool
}

func envMigrationDirs() migrationDirs {
	var m migrationDirs
	if v := os.Getenv(migrationsEnv); v != "" {
		m.Set(v)
		m.fromEnv = true
	}
	return m
}

func (m *migrationDirs) String() string { return strings.Join(m.dirs, ",") }

func (m *migrationDirs) Set(v string) error {
	if m.fromEnv {
		m.dirs, m.fromEnv = nil, false
	}
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d == "" {
			return errors.New("empty directory name")
		}
		m.dirs = append(m.dirs, d)
	}
	return nil
}

// check refuses a directory that does not exist or is not one, before any
// command opens the database.
func (m *migrationDirs) check() error {
	for _, d := range m.dirs {
		fi, err := os.Stat(d)
		switch {
		case err != nil:
			return usagef("--migrations %q: %v: name the directory that holds the application's migrations (VERSION_name.sql files)", d, err)
		case !fi.IsDir():
			return usagef("--migrations %q is not a directory: name the directory that holds the application's migrations, not a file", d)
		}
	}
	return nil
}

// options returns o with the application's migrations of e added, as every
// command that opens the database passes them.
func (e *env) options(o resonance.Options) resonance.Options {
	for _, d := range e.migrations.dirs {
		o.Migrations = append(o.Migrations, resonance.MigrationsDir(d))
	}
	return o
}

// migrationsHint is the advice for a database that records versions the
// binary does not know.
func migrationsHint() string {
	return fmt.Sprintf("if they are your application's migrations, pass their directory: resonance --migrations DIR ... (or %s=DIR)", migrationsEnv)
}
