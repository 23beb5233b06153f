package conformance_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/internal/originaldb"
	"github.com/resonance-graph/resonancedb/resonance"
)

// The roles of the adoption tests (X1, X2).
func init() {
	roles["adopt-until-commit"] = roleAdoptUntilCommit
	roles["adopt"] = roleAdopt
}

// copiedMsg is what the library logs when the conversion of an original's
// database has written everything and only its commit remains.
const copiedMsg = "resonance: adopting the original's database: rows copied, committing"

// roleAdoptUntilCommit opens a database made by the original and stops for
// good inside the conversion's transaction, once every row is copied and
// before the commit: its logger prints COPIED and sleeps until the parent
// kills the process.
func roleAdoptUntilCommit(a childArgs) error {
	s, err := resonance.Open(context.Background(), a.DB, resonance.Options{Logger: slog.New(stopAt{copiedMsg})})
	if err == nil {
		s.Close()
	}
	return fmt.Errorf("the open returned (%v) without reaching %q", err, copiedMsg)
}

// stopAt is a slog.Handler that, on the record with message msg, says
// COPIED and sleeps (a sleeping goroutine, unlike select{}, never trips
// the runtime's deadlock detector).
type stopAt struct{ msg string }

func (h stopAt) Enabled(context.Context, slog.Level) bool { return true }
func (h stopAt) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		say("COPIED")
		time.Sleep(time.Hour)
	}
	return nil
}
func (h stopAt) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h stopAt) WithGroup(string) slog.Handler      { return h }

// roleAdopt opens the database (adopting it) and says DONE.
func roleAdopt(a childArgs) error {
	say("OPENING")
	s, err := resonance.Open(context.Background(), a.DB, resonance.Options{})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	say("DONE")
	return nil
}

// originalState is what a database made by the original holds, read
// without changing it.
type originalState struct {
	org  *resonance.Original
	rows map[string][]map[string]string
}

func readOriginal(t *testing.T, path string) originalState {
	t.Helper()
	ctx := context.Background()
	org, err := resonance.InspectOriginal(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("%s: InspectOriginal(%q): %v", rule(t), path, err)
	}
	conn, err := resonance.Connect(ctx, path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer conn.Close()
	rows, err := originaldb.Dump(ctx, conn)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	var res string
	if err := conn.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("%s: integrity_check = %q, %v; want ok", rule(t), res, err)
	}
	return originalState{org, rows}
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	return sha256.Sum256(b)
}

// bigOriginal builds, once per test, a database made by the original whose
// conversion writes more pages than a connection's cache holds (8 MiB), so
// that SQLite spills uncommitted pages into the WAL before the commit, and
// returns a fresh copy of it.
func bigOriginal(t *testing.T) (string, originaldb.Counts) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "original.db")
	counts, err := originaldb.Create(context.Background(), src, originaldb.Options{ExtraNodes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	return src, counts
}

func copyFile(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "graph.db")
	if err := os.WriteFile(dest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dest
}

// TestX2_KillDuringAdoptionLeavesTheOriginal kills a process with SIGKILL
// inside the conversion, after every row is copied (uncommitted pages
// already spilled into the WAL) and before the commit. The database file is
// byte for byte what it was, it opens, it is still the original's with
// every row, and the next open converts it.
func TestX2_KillDuringAdoptionLeavesTheOriginal(t *testing.T) {
	path, counts := bigOriginal(t)
	before := readOriginal(t, path)
	if before.org == nil {
		t.Fatal("X2 test setup: the fixture is not recognised as the original's")
	}
	hash := sha256File(t, path)

	c := start(t, spawn{role: "adopt-until-commit", args: childArgs{DB: path}})
	c.expect("COPIED", 2*time.Minute)
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("X2 test setup: the conversion spilled less than 1 MiB into the WAL before the kill (%v): the test would not cover uncommitted frames", err)
	}
	c.kill()
	<-c.exited

	if sha256File(t, path) != hash {
		t.Error("X2: the database file changed: a conversion killed before its commit reached it")
	}
	after := readOriginal(t, path)
	if after.org == nil {
		t.Fatal("X2: after kill -9 the database is no longer the original's")
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("X2: after kill -9 the original's rows or counts differ: before %+v, after %+v", before.org, after.org)
	}

	s, err := resonance.Open(context.Background(), path, resonance.Options{})
	if err != nil {
		t.Fatalf("X1: opening after the killed conversion: %v", err)
	}
	defer s.Close()
	var nodes, history int
	if err := s.ReadDB().QueryRow(`SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM history)`).Scan(&nodes, &history); err != nil ||
		nodes != counts.Nodes || history != counts.History {
		t.Errorf("X1: after the retried conversion: %d nodes, %d history rows (%v); want %d, %d", nodes, history, err, counts.Nodes, counts.History)
	}
}

// TestX2_KillAtAnyMomentOfAdoption kills an opening process at random
// moments (during the backup, the conversion or after it): the file is
// either still the original's with every row, or converted with every row,
// never in between. The moments are spread over the time one full
// adoption takes, measured first.
func TestX2_KillAtAnyMomentOfAdoption(t *testing.T) {
	src, counts := bigOriginal(t)
	before := readOriginal(t, src)

	c := start(t, spawn{role: "adopt", args: childArgs{DB: copyFile(t, src)}})
	c.expect("OPENING", 30*time.Second)
	began := time.Now()
	c.expect("DONE", 2*time.Minute)
	took := time.Since(began)
	c.wait(30 * time.Second)

	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 12))
	t.Logf("random seed %d; one adoption takes %v", seed, took)
	for run := 1; run <= 5; run++ {
		path := copyFile(t, src)
		c := start(t, spawn{role: "adopt", args: childArgs{DB: path}})
		c.expect("OPENING", 30*time.Second)
		delay := time.Duration(rng.Int64N(int64(took)))
		time.Sleep(delay)
		c.kill()
		<-c.exited

		org, err := resonance.InspectOriginal(context.Background(), path, resonance.Options{})
		switch {
		case err != nil:
			t.Fatalf("X2: run %d: killed after %v: %v", run, delay, err)
		case org != nil:
			if after := readOriginal(t, path); !reflect.DeepEqual(before, after) {
				t.Errorf("X2: run %d: killed after %v: still the original's, but its rows differ", run, delay)
			}
			t.Logf("run %d: killed after %v: still the original's, every row as it was", run, delay)
		default:
			s, err := resonance.Open(context.Background(), path, resonance.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("X1: run %d: killed after %v, converted: read-only open: %v", run, delay, err)
			}
			var nodes, edges, history int
			err = s.ReadDB().QueryRow(`SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges), (SELECT count(*) FROM history)`).Scan(&nodes, &edges, &history)
			s.Close()
			if err != nil || nodes != counts.Nodes || edges != counts.Edges || history != counts.History {
				t.Errorf("X1: run %d: killed after %v, converted: %d nodes, %d edges, %d history rows (%v); want %+v", run, delay, nodes, edges, history, err, counts)
			}
			t.Logf("run %d: killed after %v: converted, every row there", run, delay)
		}
	}
}

// TestX1_AdoptedDatabaseAgreesWithDbmate: after the adoption of an
// original's database, the dbmate CLI lists every migration as applied and
// its up changes nothing, and the conformance checks pass.
func TestX1_AdoptedDatabaseAgreesWithDbmate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	if _, err := originaldb.Create(ctx, path, originaldb.Options{ExtraNodes: 5}); err != nil {
		t.Fatal(err)
	}
	s, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("X1: adopting: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dbmateBin(t), "--url", "sqlite:"+path, "--migrations-dir", filepath.Join(repoRoot(t), "schema"), "--no-dump-schema", "status")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("X1: dbmate status: %v\n%s", err, out)
	}
	files := embeddedMigrations(t)
	for _, f := range files {
		if !strings.Contains(string(out), "[X] "+f) {
			t.Errorf("X1: dbmate status does not list %s as applied on the adopted database:\n%s", f, out)
		}
	}
	if !strings.Contains(string(out), "Pending: 0") {
		t.Errorf("X1: dbmate status on the adopted database:\n%s", out)
	}
	if r := conformance.CheckDatabase(ctx, path, resonance.Options{}); !r.OK() {
		t.Errorf("X1: conformance checks on the adopted database: %+v", r.Failures())
	}
}
