package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/resonance-graph/resonancedb/resonance"
)

// originalReport is what `migrate status` and `doctor` say about a
// database made by the original before converting it (X1): what it holds
// and what `migrate up` will do.
func originalReport(org *resonance.Original, path string) (found string, plan []string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	found = fmt.Sprintf("made by the original (%s recorded): %s, %s, %s, %s",
		plural(org.Rows["__drizzle_migrations"], "drizzle migration"), plural(org.Rows["nodes"], "node"), plural(org.Rows["edges"], "edge"), plural(org.Rows["history"], "history row"), plural(org.Rows["ember_state"], "ember_state row"))
	var fills []string
	for _, f := range []struct {
		col, what, noun string
	}{
		{"nodes.type", "without type get \"undefined\"", "node"},
		{"nodes.domain", "without domain get \"knowledge\"", "node"},
		{"nodes.layer", "without layer get \"experience\"", "node"},
		{"edges.confidence", "without confidence get 1", "edge"},
		{"edges.veracity", "without veracity get 1", "edge"},
		{"ember_state.sidecar_created", "without sidecar_created get 0", "ember_state row"},
		{"history.timestamp", "without timestamp get 1970-01-01 00:00:00", "history row"},
	} {
		if n := org.Fills[f.col]; n > 0 {
			fills = append(fills, plural(n, f.noun)+" "+f.what)
		}
	}
	keep := "keeping every row and every value"
	if len(fills) > 0 {
		keep = "keeping every row and every value, except that " + strings.Join(fills, ", ")
	}
	plan = []string{
		"write a backup to " + filepath.Join(filepath.Dir(path), "backups") + "/ first (M6)",
		"convert it in one transaction to this schema, " + keep,
		"drop __drizzle_migrations and the original's two edge indexes, and record migrations " + strings.Join(org.Versions, ", ") + " as applied",
		"then apply any migrations still pending; the original can no longer open the file (the backup is the way back)",
	}
	if len(org.OtherTables) > 0 {
		plan = append(plan, "leave the other tables as they are: "+strings.Join(org.OtherTables, ", "))
	}
	return found, plan
}

// printAdopted reports a conversion `migrate up` has just done.
func printAdopted(e *env, org *resonance.Original, ms []resonance.MigrationStatus) error {
	if e.json {
		return writeJSON(e.stdout, map[string]any{"migrations": ms, "adopted": org})
	}
	dir := filepath.Join(filepath.Dir(e.dbPath), "backups")
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintf(e.stdout, "converted the database made by the original: %s, %s, %s, %s kept; its backup is in %s/\n\n",
		plural(org.Rows["nodes"], "node"), plural(org.Rows["edges"], "edge"), plural(org.Rows["history"], "history row"), plural(org.Rows["ember_state"], "ember_state row"), dir)
	return printMigrations(e, ms)
}
