package conformance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

func init() {
	roles["importer"] = roleImporter
	roles["maintenance-loop"] = roleMaintenanceLoop
}

// importBatch is how many nodes one import writes, in one transaction.
const importBatch = 200

// roleImporter plays `resonance import` run a.Count times, or again and
// again for a.Duration:
// each run opens the store (busy timeout a.Hold), writes importBatch nodes in one transaction and
// closes it. Commits counts the imports that committed; every error is
// counted, a busy one as Busy.
func roleImporter(a childArgs) error {
	ctx := context.Background()
	var r loopResult
	if err := awaitGo(); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; (a.Count > 0 && i < a.Count) || (a.Count == 0 && time.Since(start) < a.Duration); i++ {
		batch := r.Commits + 1
		s, err := resonance.Open(ctx, a.DB, resonance.Options{BusyTimeout: a.Hold})
		if err != nil {
			r.fail(err)
			continue
		}
		err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := range importBatch {
				id := fmt.Sprintf("imp%d-%06d-%03d", a.Writer, batch, i)
				if err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "import", Title: id}); err != nil {
					return err
				}
			}
			return nil
		})
		if cerr := s.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			r.fail(err)
			continue
		}
		r.Commits++
	}
	r.Duration = time.Since(start).String()
	return result(r)
}

// roleMaintenanceLoop plays a command run in a shell loop for a.Duration:
// a.Mode "stats" (a read-only store), "checkpoint" or "backup", each run
// opening and closing its own store (busy timeout a.Hold) as the CLI does. A partial checkpoint
// is a result, not an error.
func roleMaintenanceLoop(a childArgs) error {
	ctx := context.Background()
	var r loopResult
	if err := awaitGo(); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; time.Since(start) < a.Duration; i++ {
		s, err := resonance.Open(ctx, a.DB, resonance.Options{BusyTimeout: a.Hold, ReadOnly: a.Mode == "stats"})
		if err != nil {
			r.fail(err)
			continue
		}
		switch a.Mode {
		case "stats":
			_, err = s.Stats(ctx)
		case "checkpoint":
			var cp resonance.Checkpoint
			if cp, err = s.Checkpoint(ctx); err == nil && cp.Busy {
				r.Busy++ // counted, not an error
			}
		case "backup":
			err = s.Backup(ctx, filepath.Join(filepath.Dir(a.DB), fmt.Sprintf("backup-%d.db", i)), nil)
		default:
			err = fmt.Errorf("unknown mode %q", a.Mode)
		}
		if cerr := s.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			r.fail(err)
			continue
		}
		r.OK++
	}
	r.Duration = time.Since(start).String()
	return result(r)
}

// TestW4_ImportersBesideMaintenanceLoops runs six importing processes while
// three more run stats, checkpoint and backup in loops: no importer sees a
// busy error and every import that committed is in the database whole.
//
// A backup (VACUUM INTO) is a reader open as long as the copy takes. Before
// checkpoints waited for readers only within a bound, a checkpoint begun
// beside one held the write lock until the reader ended or the busy timeout
// ran out, and the importers queued behind it could time out (W4, W5; the
// test below proves that bound deterministically). The database holds
// ~30 MB before the load starts, so that each backup is such a reader.
func TestW4_ImportersBesideMaintenanceLoops(t *testing.T) {
	path := newDB(t)
	prefill := plainDB(t, path, "_busy_timeout=5000")
	if _, err := prefill.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		INSERT INTO nodes (id, type, title, embedding) SELECT printf('pre-%06d', i), 'doc', 'pre', randomblob(1536) FROM n`); err != nil {
		t.Fatalf("%s: prefill: %v", rule(t), err)
	}
	// As after an import through the library: the statistics are current,
	// so that PRAGMA optimize at each open and close has nothing to do.
	if _, err := prefill.Exec(`ANALYZE`); err != nil {
		t.Fatalf("%s: prefill: %v", rule(t), err)
	}
	prefill.Close()
	const d = 3 * time.Second
	const busy = 5 * time.Second // the default busy timeout
	var ss []spawn
	for w := 1; w <= 6; w++ {
		ss = append(ss, spawn{role: "importer", args: childArgs{DB: path, Duration: d, Writer: w, Hold: busy}})
	}
	modes := []string{"stats", "checkpoint", "backup"}
	for _, m := range modes {
		ss = append(ss, spawn{role: "maintenance-loop", args: childArgs{DB: path, Duration: d, Mode: m, Hold: busy}})
	}
	ps := startTogether(t, ss...)
	rs := make([]loopResult, len(ps))
	for i, p := range ps {
		p.result(&rs[i], 120*time.Second)
	}
	s := openStore(t, path, resonance.Options{ReadOnly: true})
	for i, r := range rs[:6] {
		w := i + 1
		if r.Busy > 0 || r.Other > 0 {
			t.Errorf("W4: importer %d: %d busy and %d other errors in %d imports: %q", w, r.Busy, r.Other, r.Commits+r.Busy+r.Other, r.Errors)
		}
		if r.Commits == 0 {
			t.Errorf("W4: importer %d committed nothing in %v", w, d)
		}
		n := count(t, s.ReadDB(), `SELECT count(*) FROM nodes WHERE id LIKE ?`, fmt.Sprintf("imp%d-%%", w))
		if int64(n) != r.Commits*importBatch {
			t.Errorf("W4: importer %d reported %d imports of %d nodes; the database holds %d of its nodes", w, r.Commits, importBatch, n)
		}
	}
	for i, r := range rs[6:] {
		if r.OK == 0 || r.Other > 0 || (modes[i] != "checkpoint" && r.Busy > 0) {
			t.Errorf("W4: %s loop: %d runs, %d busy, %d failed: %q", modes[i], r.OK, r.Busy, r.Other, r.Errors)
		}
	}
	var imports int64
	for _, r := range rs[:6] {
		imports += r.Commits
	}
	t.Logf("%v: 6 importers committed %d imports; stats %d runs, checkpoint %d runs (%d partial), backup %d runs",
		d, imports, rs[6].OK, rs[7].OK, rs[7].Busy, rs[8].OK)
}

// TestW5_CheckpointBesideReaderDoesNotStallImport runs a checkpoint while a
// reader holds a snapshot for longer than the busy timeout, and an import in
// another process meanwhile: the checkpoint gives up on the reader within
// its short bound and reports a partial checkpoint, and the import goes
// through. Before the bound, the checkpoint held the write lock for the
// whole busy timeout and the import failed with a busy error (W5).
func TestW5_CheckpointBesideReaderDoesNotStallImport(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	const busy = 2 * time.Second
	s := openStore(t, path, resonance.Options{BusyTimeout: busy})
	write := func(prefix string) {
		t.Helper()
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := range 50 {
				if err := tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("%s-%d", prefix, i), Type: "doc"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
	write("a")
	reader := plainDB(t, path, "_busy_timeout=5000")
	rtx, err := reader.Begin()
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer rtx.Rollback()
	count(t, rtx, `SELECT count(*) FROM nodes`)
	write("b")

	imp := start(t, spawn{role: "importer", args: childArgs{DB: path, Count: 1, Writer: 1, Hold: busy}})
	imp.expect("READY", 30*time.Second)
	done := make(chan resonance.Checkpoint, 1)
	var cpTook time.Duration
	go func() {
		start := time.Now()
		cp, err := s.Checkpoint(ctx)
		if err != nil {
			t.Errorf("W5: checkpoint beside a reader: %v", err)
		}
		cpTook = time.Since(start)
		done <- cp
	}()
	time.Sleep(50 * time.Millisecond)
	imp.send("go")
	var r loopResult
	imp.result(&r, 60*time.Second)
	cp := <-done
	if r.Commits != 1 || r.Busy > 0 || r.Other > 0 {
		t.Errorf("W5: an import beside a checkpoint waiting for a reader: %d committed, errors %q; want it committed", r.Commits, r.Errors)
	}
	if took, err := time.ParseDuration(r.Duration); err == nil && took > busy/2 {
		t.Errorf("W5: an import beside a checkpoint waiting for a reader took %v; want it well under the %v busy timeout", took, busy)
	}
	if !cp.Busy {
		t.Errorf("W5: checkpoint with a reader on an old snapshot = %+v; want it partial", cp)
	}
	if cpTook > busy/2 {
		t.Errorf("W5: the checkpoint took %v beside a reader; want it to give up well before the %v busy timeout", cpTook, busy)
	}
	t.Logf("import took %s beside a checkpoint that took %v and ended partial (%d of %d frames)", r.Duration, cpTook, cp.Checkpointed, cp.LogFrames)
}
