package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/internal/originaldb"
	"github.com/resonance-graph/resonancedb/resonance"
)

func newOriginalDB(t *testing.T, o originaldb.Options) (string, originaldb.Counts) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "graph.db")
	c, err := originaldb.Create(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	return path, c
}

// TestCLI_AdoptsTheOriginalsDatabase walks a user of the original through
// the switch: status says what it found and what will happen, migrate up
// converts, and every command then works on every row (X1).
func TestCLI_AdoptsTheOriginalsDatabase(t *testing.T) {
	db, c := newOriginalDB(t, originaldb.Options{ExtraNodes: 12})

	// Said before it is done, with nothing changed.
	st := mustCLI(t, 0, "", "--db", db, "migrate", "status")
	for _, want := range []string{
		"made by the original (3 drizzle migrations recorded)",
		fmt.Sprintf("%s, %s, %s, %s", plural(int64(c.Nodes), "node"), plural(int64(c.Edges), "edge"), plural(int64(c.History), "history row"), plural(int64(c.EmberState), "ember_state row")),
		"write a backup to " + filepath.Join(filepath.Dir(db), "backups"),
		"convert it in one transaction",
		`1 node without type get "undefined"`,
		"1 edge without confidence get 1",
		"drop __drizzle_migrations",
	} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("X1: migrate status on the original's database does not say %q:\n%s", want, st.stdout)
		}
	}
	if strings.Contains(st.stdout, "  applied  ") || strings.Count(st.stdout, "  pending  ") != strings.Count(st.stdout, ".sql") {
		t.Errorf("X1: migrate status before adoption lists an applied migration:\n%s", st.stdout)
	}
	var js struct {
		Migrations []resonance.MigrationStatus `json:"migrations"`
		Original   *resonance.Original         `json:"original"`
		Plan       []string                    `json:"plan"`
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "migrate", "status", "--json"), &js)
	if js.Original == nil || js.Original.Rows["nodes"] != int64(c.Nodes) || js.Original.Rows["edges"] != int64(c.Edges) || len(js.Plan) < 4 {
		t.Errorf("X1: migrate status --json: %+v", js)
	}
	doc := mustCLI(t, 1, "", "--db", db, "doctor")
	if !strings.Contains(doc.stdout, "X1") || !strings.Contains(doc.stdout, "made by the original") || !strings.Contains(doc.stdout, "resonance migrate up --db") {
		t.Errorf("X1: doctor on the original's database:\n%s", doc.stdout)
	}
	if org, err := resonance.InspectOriginal(t.Context(), db, resonance.Options{}); err != nil || org == nil {
		t.Fatalf("X1: status and doctor changed the original's database: %+v, %v", org, err)
	}

	up := mustCLI(t, 0, "", "--db", db, "migrate", "up")
	if want := fmt.Sprintf("converted the database made by the original: %s, %s, %s, %s kept", plural(int64(c.Nodes), "node"), plural(int64(c.Edges), "edge"), plural(int64(c.History), "history row"), plural(int64(c.EmberState), "ember_state row")); !strings.Contains(up.stdout, want) {
		t.Errorf("X1: migrate up does not say %q:\n%s", want, up.stdout)
	}

	st = mustCLI(t, 0, "", "--db", db, "migrate", "status")
	if strings.Contains(st.stdout, "pending") || strings.Contains(st.stdout, "original") {
		t.Errorf("X1: migrate status after adoption:\n%s", st.stdout)
	}
	var ms struct {
		Migrations []resonance.MigrationStatus `json:"migrations"`
	}
	decode(t, mustCLI(t, 0, "", "--db", db, "migrate", "status", "--json"), &ms)
	for _, m := range ms.Migrations {
		if !m.Applied || m.File == "" {
			t.Errorf("X1: after migrate up, migration %+v", m)
		}
	}
	mustCLI(t, 0, "", "--db", db, "doctor", "--conformance")
	mustCLI(t, 0, "", "--db", db, "doctor")

	// export lists every node and every edge.
	out := mustCLI(t, 0, "", "--db", db, "export")
	nodes, edges := 0, 0
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.stdout), "\n") {
		var rec struct {
			Kind, ID, Type, Target string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		switch rec.Kind {
		case "node":
			nodes++
			ids[rec.ID] = true
			if rec.ID == originaldb.NodeNullType && rec.Type != "undefined" {
				t.Errorf("X1: the node without type exports with type %q", rec.Type)
			}
		case "edge":
			edges++
		}
	}
	if nodes != c.Nodes || edges != c.Edges || !ids[originaldb.NodeFull] || !ids[originaldb.NodeUndefined] {
		t.Errorf("X1: export lists %d nodes and %d edges, want %d and %d", nodes, edges, c.Nodes, c.Edges)
	}
	stats := mustCLI(t, 0, "", "--db", db, "stats", "--json")
	if !strings.Contains(stats.stdout, fmt.Sprintf(`"nodes": %d`, c.Nodes)) || !strings.Contains(stats.stdout, fmt.Sprintf(`"edges": %d`, c.Edges)) {
		t.Errorf("X1: stats after adoption:\n%s", stats.stdout)
	}
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "backups", "*-voriginal.db"))
	if len(backups) != 1 {
		t.Errorf("M6: backups of the original's file: %v, want one", backups)
	}
}

func TestCLI_InitAdoptsTheOriginalsDatabase(t *testing.T) {
	db, c := newOriginalDB(t, originaldb.Options{})
	r := mustCLI(t, 0, "", "--db", db, "init", "--json")
	if !strings.Contains(r.stdout, fmt.Sprintf(`"nodes": %d`, c.Nodes)) {
		t.Errorf("X1: init on the original's database:\n%s", r.stdout)
	}
	mustCLI(t, 0, "", "--db", db, "doctor", "--conformance")
}

// TestCLI_RefusesLookalikesOfTheOriginal: status, doctor and migrate up
// name the difference and change nothing (X2).
func TestCLI_RefusesLookalikesOfTheOriginal(t *testing.T) {
	db, _ := newOriginalDB(t, originaldb.Options{DDL: strings.Replace(originaldb.DDL, "`sidecar_created` integer", "`sidecar_created` text", 1)})
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	const want = `ember_state.sidecar_created is "TEXT" where the original's is "integer"`
	for _, args := range [][]string{{"migrate", "status"}, {"migrate", "up"}, {"init"}} {
		r := mustCLI(t, 1, "", append([]string{"--db", db}, args...)...)
		if !strings.Contains(r.stderr, want) {
			t.Errorf("X2: resonance %s on a lookalike: stderr %q, want it to name %q", strings.Join(args, " "), r.stderr, want)
		}
	}
	r := mustCLI(t, 1, "", "--db", db, "doctor")
	if !strings.Contains(r.stdout, "X2") || !strings.Contains(r.stdout, want) {
		t.Errorf("X2: doctor on a lookalike:\n%s", r.stdout)
	}
	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("X2: the lookalike's file changed")
	}
}

// TestCLI_EveryConversionIsSaid runs init, which converts the original's
// database as migrate up does: it says so on stderr, with where the backup
// is, since the original cannot open the file afterwards (X1).
func TestCLI_EveryConversionIsSaid(t *testing.T) {
	db, _ := newOriginalDB(t, originaldb.Options{})
	r := mustCLI(t, 0, "", "--db", db, "init")
	for _, want := range []string{"converted the database made by the original", "the original cannot open it", filepath.Join(filepath.Dir(db), "backups")} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("X1: init on the original's database converted it without saying %q on stderr:\n%s", want, r.stderr)
		}
	}
}

// TestCLI_ConversionDrawsProgress: migrate up and init with --progress
// always draw the rows copied against the total, up to 100%, and clear the
// line before the warning that the file was converted; on a stderr that is
// not a terminal they draw nothing.
func TestCLI_ConversionDrawsProgress(t *testing.T) {
	for _, cmd := range [][]string{{"migrate", "up"}, {"init"}} {
		t.Run(cmd[0], func(t *testing.T) {
			db, c := newOriginalDB(t, originaldb.Options{ExtraNodes: 12})
			total := thousands(int64(c.Nodes + c.Edges + c.History + c.EmberState))
			r := mustCLI(t, 0, "", append(append([]string{"--db", db}, cmd...), "--progress", "always")...)
			for _, want := range []string{"\rconverting [", " rows 0 of " + total + ", 0%", " rows " + total + " of " + total + ", 100%",
				"\rresonance: converted the database made by the original"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("resonance %s --progress always: stderr does not hold %q:\n%q", strings.Join(cmd, " "), want, r.stderr)
				}
			}
			db, _ = newOriginalDB(t, originaldb.Options{ExtraNodes: 12})
			if r := mustCLI(t, 0, "", append([]string{"--db", db}, cmd...)...); strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "converting [") {
				t.Errorf("resonance %s drew progress on a non-terminal stderr: %q", strings.Join(cmd, " "), r.stderr)
			}
		})
	}
	db, _ := newOriginalDB(t, originaldb.Options{})
	mustCLI(t, 2, "", "--db", db, "migrate", "up", "--progress", "sometimes")
	if org, err := resonance.InspectOriginal(t.Context(), db, resonance.Options{}); err != nil || org == nil {
		t.Errorf("migrate up with a bad --progress converted the database: %+v, %v", org, err)
	}
}

// TestCLI_OnlyMigrateUpAndInitConvert runs every other command that opens
// the database read-write on a database made by the original: each says
// what it found and how to convert it, and changes nothing (X1).
func TestCLI_OnlyMigrateUpAndInitConvert(t *testing.T) {
	node := `{"kind":"node","id":"n1","type":"note","title":"T","domain":"knowledge","layer":"experience"}` + "\n"
	for _, args := range [][]string{
		{"health"}, {"checkpoint"}, {"analyze"}, {"optimize"}, {"vacuum"}, {"vacuum", "--incremental"},
		{"backup", "COPY"}, {"import", "-"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			db, _ := newOriginalDB(t, originaldb.Options{})
			for i, a := range args {
				if a == "COPY" {
					args[i] = filepath.Join(t.TempDir(), "copy.db")
				}
			}
			before := fileBytes(t, db)
			r := mustCLI(t, 1, node, append([]string{"--db", db}, args...)...)
			for _, want := range []string{"made by the original", "not converted", "resonance migrate up --db " + db, "nothing was changed"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("X1: resonance %s on the original's database does not say %q:\n%s", args[0], want, r.stderr)
				}
			}
			if !bytes.Equal(fileBytes(t, db), before) {
				t.Errorf("X1: resonance %s changed the original's database", args[0])
			}
			if org, err := resonance.InspectOriginal(t.Context(), db, resonance.Options{}); err != nil || org == nil {
				t.Errorf("X1: resonance %s converted the original's database: %+v, %v", args[0], org, err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(db), "backups")); !os.IsNotExist(err) {
				t.Errorf("X1: resonance %s wrote a backup: %v", args[0], err)
			}
		})
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
