package main

import (
	"flag"
	"fmt"
	"io/fs"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/schema"
)

const versionHelp = "Print this program's version, go-sqlite3's and SQLite's, and the newest migration it knows.\n\n" +
	"The version is the module's, as the build recorded it: a release tag, a pseudo-version for\n" +
	"a build from a checkout, or (devel). A database recording a migration newer than the one\n" +
	"printed needs a newer program (M4)."

// versionInfo is what version prints.
type versionInfo struct {
	Version   string `json:"version"`
	GoSQLite3 string `json:"go_sqlite3"`
	SQLite    string `json:"sqlite"`
	Migration string `json:"migration"` // the newest embedded migration's file name
	Go        string `json:"go"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", GoSQLite3: "(unknown)", Go: runtime.Version()}
	v.SQLite, _, _ = sqlite3.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Version = bi.Main.Version
		for _, d := range bi.Deps {
			if d.Path == "github.com/mattn/go-sqlite3" {
				v.GoSQLite3 = d.Version
				if d.Replace != nil {
					v.GoSQLite3 += " => " + d.Replace.Path + " " + d.Replace.Version
				}
			}
		}
	}
	names, _ := fs.Glob(schema.FS, "*.sql")
	if len(names) > 0 {
		v.Migration = slices.Max(names)
	}
	return v
}

func runVersion(e *env, fs *flag.FlagSet) error {
	if err := noArgs(fs); err != nil {
		return err
	}
	return printVersion(e)
}

func printVersion(e *env) error {
	v := currentVersion()
	if e.json {
		return writeJSON(e.stdout, v)
	}
	version, _, _ := strings.Cut(v.Migration, "_")
	_, err := fmt.Fprintf(e.stdout, "resonance %s\ngo-sqlite3 %s, SQLite %s, %s\nnewest migration %s (%s)\n",
		v.Version, v.GoSQLite3, v.SQLite, v.Go, version, v.Migration)
	return err
}
