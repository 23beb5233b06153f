package replication_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
)

// The writer is this test binary run again as a child process (envChild
// set): it commits transactions 1, 2, 3, … of batchNodes nodes each, every
// node carrying its batch number, and prints "C <batch>" only after the
// commit returned, about 250 a second. "stop" on stdin makes it close the store and exit.
const (
	envChild    = "RESONANCE_REPLICATION_CHILD"
	batchNodes  = 20
	syncEvery   = 250 * time.Millisecond
	lossWindow  = 2 * time.Second // generous: sync interval plus scheduling on a loaded machine
	writeFor    = 1500 * time.Millisecond
	settleAfter = 1500 * time.Millisecond
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := writer(os.Getenv(envChild), os.Getenv("RESONANCE_REPLICATION_EXTERNAL") == "1"); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writer(path string, external bool) error {
	ctx := context.Background()
	s, err := resonance.Open(ctx, path, resonance.Options{ExternalCheckpoints: external})
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "stop" {
				close(stop)
				return
			}
		}
	}()
	emb := make([]float32, 384)
	for b := 1; ; b++ {
		select {
		case <-stop:
			if err := s.Close(); err != nil {
				return err
			}
			fmt.Println("CLOSED")
			return nil
		default:
		}
		err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			for i := range batchNodes {
				emb[0] = float32(b)
				emb[1] = float32(i)
				n := resonance.Node{ID: fmt.Sprintf("b%06d-%02d", b, i), Type: "batch", Title: strconv.Itoa(b),
					Embedding: emb, Meta: json.RawMessage(fmt.Sprintf(`{"batch":%d}`, b))}
				if err := tx.UpsertNode(ctx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Printf("C %d\n", b)
		// A steady import rather than a flood: at full speed the WAL grows
		// by hundreds of MB in seconds and Litestream's own checkpoint of
		// it holds the write lock past the busy timeout (README,
		// Replication).
		time.Sleep(3 * time.Millisecond)
	}
}

// setup is one database, its Litestream configuration and file replica.
type setup struct {
	t        *testing.T
	bin      string
	dir, db  string
	cfg      string
	external bool
	ls       *exec.Cmd
	lsLog    *os.File
	w        *exec.Cmd
	wIn      io.WriteCloser
	mu       sync.Mutex
	commits  map[int]time.Time // batch → when the writer said it committed
	wDone    chan struct{}
}

func newSetup(t *testing.T, external bool) *setup {
	bin := os.Getenv("LITESTREAM_BIN")
	if bin == "" {
		t.Skip("LITESTREAM_BIN is not set: run `make replication`, which builds bin/litestream")
	}
	dir := t.TempDir()
	s := &setup{t: t, bin: bin, dir: dir, db: filepath.Join(dir, "graph.db"), cfg: filepath.Join(dir, "litestream.yml"),
		external: external, commits: map[int]time.Time{}}
	cfg := fmt.Sprintf("logging:\n  level: debug\ndbs:\n  - path: %s\n    replica:\n      type: file\n      path: %s\n      sync-interval: %s\n",
		s.db, filepath.Join(dir, "replica"), syncEvery)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := resonance.Open(context.Background(), s.db, resonance.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.w != nil && s.w.ProcessState == nil {
			s.w.Process.Kill()
			<-s.wDone
		}
		if s.ls != nil && s.ls.ProcessState == nil {
			s.ls.Process.Kill()
			s.ls.Wait()
		}
	})
	return s
}

func (s *setup) startLitestream() {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.dir, "litestream.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.lsLog = f
	s.ls = exec.Command(s.bin, "replicate", "-config", s.cfg)
	s.ls.Stdout, s.ls.Stderr = f, f
	if err := s.ls.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.log(), "replicating to") {
		if time.Now().After(deadline) {
			s.t.Fatalf("litestream did not start:\n%s", s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *setup) waitLog(substr string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.log(), substr) {
		if time.Now().After(deadline) {
			s.t.Fatalf("litestream never logged %q", substr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *setup) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "litestream.log"))
	return string(b)
}

// stopLitestream ends Litestream with SIGTERM (it syncs what it has) or SIGKILL.
func (s *setup) stopLitestream(sig syscall.Signal) {
	s.t.Helper()
	s.ls.Process.Signal(sig)
	s.ls.Wait()
	s.lsLog.Close()
}

func (s *setup) startWriter() {
	s.t.Helper()
	s.w = exec.Command(os.Args[0], "-test.run=^$")
	s.w.Env = append(os.Environ(), envChild+"="+s.db, "RESONANCE_REPLICATION_EXTERNAL="+map[bool]string{true: "1", false: "0"}[s.external])
	out, err := s.w.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	s.w.Stderr = os.Stderr
	if s.wIn, err = s.w.StdinPipe(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.w.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.wDone = make(chan struct{})
	go func() {
		defer close(s.wDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if b, ok := strings.CutPrefix(sc.Text(), "C "); ok {
				n, _ := strconv.Atoi(b)
				s.mu.Lock()
				s.commits[n] = time.Now()
				s.mu.Unlock()
			}
		}
		s.w.Wait()
	}()
}

// stopWriter closes the writer's store ("stop") or kills it with SIGKILL.
func (s *setup) stopWriter(kill bool) {
	s.t.Helper()
	if kill {
		s.w.Process.Kill()
	} else {
		fmt.Fprintln(s.wIn, "stop")
	}
	select {
	case <-s.wDone:
	case <-time.After(60 * time.Second):
		s.t.Fatal("the writer did not end")
	}
	if !kill && !s.w.ProcessState.Success() {
		s.t.Fatalf("the writer failed: %v", s.w.ProcessState)
	}
}

// committedBefore is the highest batch n such that every batch up to n
// was reported committed before t.
func (s *setup) committedBefore(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		at, ok := s.commits[n+1]
		if !ok || !at.Before(t) {
			return n
		}
		n++
	}
}

// restore restores the replica into a new file and checks it: integrity,
// whole transactions only (every batch complete, batches 1..max with no
// gap), and every batch up to want present. It returns the highest batch.
func (s *setup) restore(name string, want int) int {
	s.t.Helper()
	out := filepath.Join(s.dir, name+".db")
	cmd := exec.Command(s.bin, "restore", "-config", s.cfg, "-o", out, s.db)
	if b, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s: litestream restore: %v\n%s", name, err, b)
	}
	db, err := sql.Open("sqlite3", "file:"+out+"?mode=ro")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var ic string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
		s.t.Errorf("R2 %s: integrity_check of the restore = %q, %v", name, ic, err)
	}
	rows, err := db.Query(`SELECT CAST(json_extract(meta, '$.batch') AS INTEGER), count(*) FROM nodes WHERE type = 'batch' GROUP BY 1 ORDER BY 1`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	last := 0
	for rows.Next() {
		var b, n int
		if err := rows.Scan(&b, &n); err != nil {
			s.t.Fatal(err)
		}
		if b != last+1 || n != batchNodes {
			s.t.Errorf("R2 %s: after batch %d the restore holds batch %d with %d of %d nodes: not whole transactions in order", name, last, b, n, batchNodes)
		}
		last = b
	}
	var hist int
	db.QueryRow(`SELECT count(*) FROM history`).Scan(&hist)
	if last < want {
		s.t.Errorf("R2 %s: the restore holds batches 1..%d; every batch up to %d was committed before the last sync and must be there", name, last, want)
	}
	s.t.Logf("%s: restore holds batches 1..%d (%d required), %d history rows, integrity %s", name, last, want, hist, ic)
	return last
}

func (s *setup) allCommitted() int { return s.committedBefore(time.Now().Add(time.Hour)) }

var snapshotReason = regexp.MustCompile(`reason="?([^"\n]*)`)

// reasons lists why Litestream took snapshots, from its debug log.
func (s *setup) reasons() []string {
	var rs []string
	for _, m := range snapshotReason.FindAllStringSubmatch(s.log(), -1) {
		rs = append(rs, m[1])
	}
	return rs
}

func bothModes(t *testing.T, fn func(t *testing.T, external bool)) {
	for _, external := range []bool{false, true} {
		name := "DefaultCheckpoints"
		if external {
			name = "ExternalCheckpoints"
		}
		t.Run(name, func(t *testing.T) { fn(t, external) })
	}
}

// A clean stop: the writer closes its store, Litestream syncs and stops on
// SIGTERM; the restore holds every committed transaction.
func TestR2_CleanStop(t *testing.T) {
	bothModes(t, func(t *testing.T, external bool) {
		s := newSetup(t, external)
		s.startLitestream()
		s.startWriter()
		time.Sleep(writeFor)
		s.stopWriter(false)
		time.Sleep(settleAfter)
		s.stopLitestream(syscall.SIGTERM)
		s.restore("clean", s.allCommitted())
	})
}

// kill -9 of the writer: what it committed is in the WAL, and Litestream
// replicates it.
func TestR2_KillWriter(t *testing.T) {
	bothModes(t, func(t *testing.T, external bool) {
		s := newSetup(t, external)
		s.startLitestream()
		s.startWriter()
		time.Sleep(writeFor)
		s.stopWriter(true)
		time.Sleep(settleAfter)
		s.stopLitestream(syscall.SIGTERM)
		s.restore("kill-writer", s.allCommitted())
	})
}

// kill -9 of Litestream while the writer goes on: a restore at once holds
// whole transactions and everything committed a sync interval (and a
// margin) before the kill; after Litestream restarts and the writer stops
// cleanly, the restore holds everything. With ExternalCheckpoints the
// library must not checkpoint while Litestream is down: the database file
// does not change.
func TestR2_KillLitestreamAndRestart(t *testing.T) {
	bothModes(t, func(t *testing.T, external bool) {
		s := newSetup(t, external)
		s.startLitestream()
		s.startWriter()
		time.Sleep(writeFor)
		s.waitLog("snapshot complete") // the replica holds something to restore
		time.Sleep(writeFor)
		s.stopLitestream(syscall.SIGKILL)
		killed := time.Now()
		before, err := os.Stat(s.db)
		if err != nil {
			t.Fatal(err)
		}
		got := s.restore("litestream-killed", s.committedBefore(killed.Add(-lossWindow)))
		s.mu.Lock()
		if at, ok := s.commits[got+1]; ok {
			t.Logf("loss window: the oldest commit missing from the restore was made %v before Litestream was killed (sync-interval %v)", killed.Sub(at).Round(time.Millisecond), syncEvery)
		}
		s.mu.Unlock()
		time.Sleep(writeFor) // the writer goes on while Litestream is down
		after, err := os.Stat(s.db)
		if err != nil {
			t.Fatal(err)
		}
		changed := after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime())
		if external && changed {
			t.Errorf("R1: with ExternalCheckpoints the database file changed while Litestream was down (%d → %d bytes): the library checkpointed", before.Size(), after.Size())
		}
		t.Logf("while Litestream was down the writer reached batch %d; database file changed: %v", s.allCommitted(), changed)
		s.startLitestream()
		time.Sleep(writeFor)
		s.stopWriter(false)
		time.Sleep(settleAfter)
		s.stopLitestream(syscall.SIGTERM)
		s.restore("litestream-restarted", s.allCommitted())
		t.Logf("Litestream's snapshot reasons: %q", s.reasons())
	})
}

// A clean stop of the application while Litestream is down: with
// ExternalCheckpoints the store's Close must leave the WAL to Litestream,
// so that on its restart Litestream resumes the stream instead of taking a
// full snapshot. The default store checkpoints and removes the WAL on its
// last close, and Litestream snapshots (logged as the control).
func TestR2_CleanCloseWhileLitestreamDown(t *testing.T) {
	bothModes(t, func(t *testing.T, external bool) {
		s := newSetup(t, external)
		s.startLitestream()
		s.startWriter()
		time.Sleep(writeFor)
		s.waitLog("snapshot complete")
		s.stopLitestream(syscall.SIGTERM)
		time.Sleep(writeFor / 3)
		s.stopWriter(false) // the last connection to the file closes
		s.startLitestream()
		s.waitLog("txid") // a sync after the restart
		time.Sleep(settleAfter)
		s.stopLitestream(syscall.SIGTERM)
		s.restore("closed-while-down", s.allCommitted())
		var snaps []string
		for _, r := range s.reasons() {
			if !strings.Contains(r, "no new wal pages") {
				snaps = append(snaps, r)
			}
		}
		t.Logf("Litestream's snapshot reasons after a clean close while it was down: %q", snaps)
		if external && len(snaps) > 0 {
			t.Errorf("R1: with ExternalCheckpoints, Litestream took a full snapshot on restart after the store closed (%q): the store's Close checkpointed the WAL", snaps)
		}
	})
}
