package resonance_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/internal/output/outputtest"
	"github.com/resonance-graph/resonancedb/resonance"
)

// backupWriterEnv switches the test binary into a child process that keeps
// writing to the database it names (TestBackupHelperProcess).
const backupWriterEnv = "RESONANCE_TEST_BACKUP_WRITER"

// TestBackupHelperProcess is not a test: run by TestStore_BackupWhileWriting
// as a second process, it upserts nodes one transaction each until the
// file <db>.stop appears.
func TestBackupHelperProcess(t *testing.T) {
	path := os.Getenv(backupWriterEnv)
	if path == "" {
		t.Skip("helper process of TestStore_BackupWhileWriting")
	}
	ctx := context.Background()
	s, err := resonance.Open(ctx, path, resonance.Options{BackupKeep: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, err := os.Stat(path + ".stop"); err == nil {
			return
		}
		n := resonance.Node{ID: fmt.Sprintf("child-%06d", i), Type: "doc", Embedding: graphEmbedding(384, uint64(i))}
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("never told to stop")
}

// checkBackup opens the copy read-only with the connector, checks its
// integrity and that every node has its history row (the copy is one
// snapshot), and returns its node count.
func checkBackup(t *testing.T, path string) int {
	t.Helper()
	b := openStoreAt(t, path, resonance.Options{ReadOnly: true})
	problems, err := b.IntegrityCheck(context.Background())
	if err != nil || len(problems) != 0 {
		t.Fatalf("backup integrity_check = %q, %v", problems, err)
	}
	var orphans int
	if err := b.ReadDB().QueryRow(`SELECT count(*) FROM nodes WHERE id NOT IN (SELECT entity_id FROM history WHERE entity_type = 'node')`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("backup holds %d nodes without their history row: not one snapshot", orphans)
	}
	var mode string
	b.ReadDB().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("backup journal_mode = %q, want wal", mode)
	}
	return countRows(t, b.ReadDB(), "nodes")
}

func TestStore_Backup(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "b", 200)
	dir := t.TempDir()
	dest := filepath.Join(dir, "copy.db")
	if err := s.Backup(ctx, dest, nil); err != nil {
		t.Fatal(err)
	}
	if n := checkBackup(t, dest); n != 200 {
		t.Errorf("backup nodes = %d, want 200", n)
	}
	fi, _ := os.Stat(dest)
	src, _ := os.Stat(s.Path())
	if fi.Mode().Perm() != src.Mode().Perm()&^0o002 {
		t.Errorf("backup mode %v, want the source's %v without world write", fi.Mode(), src.Mode())
	}

	t.Run("RefusesExistingDest", func(t *testing.T) {
		before, _ := os.ReadFile(dest)
		err := s.Backup(ctx, dest, nil)
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Backup onto an existing file = %v, want fs.ErrExist", err)
		}
		after, _ := os.ReadFile(dest)
		if string(before) != string(after) {
			t.Error("the existing file was changed")
		}
	})
	t.Run("RefusesTheDatabaseItself", func(t *testing.T) {
		if err := s.Backup(ctx, s.Path(), nil); !errors.Is(err, resonance.ErrInvalid) {
			t.Fatalf("Backup onto the database itself = %v, want ErrInvalid", err)
		}
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		err := s.Backup(ctx, filepath.Join(dir, "no", "such", "copy.db"), nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Backup into a missing directory = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("CancelledLeavesNothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := s.Backup(cctx, filepath.Join(dir, "cancelled.db"), func(int64, int64) {})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Backup = %v, want context.Canceled", err)
		}
		outputtest.OnlyLeft(t, dir, "copy.db*")
	})
	t.Run("ReadOnlyStore", func(t *testing.T) {
		ro := openStoreAt(t, s.Path(), resonance.Options{ReadOnly: true})
		dest := filepath.Join(t.TempDir(), "ro-copy.db")
		if err := ro.Backup(ctx, dest, nil); err != nil {
			t.Fatalf("Backup from a read-only store: %v", err)
		}
		if n := checkBackup(t, dest); n != 200 {
			t.Errorf("backup nodes = %d, want 200", n)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		c := openStore(t, resonance.Options{})
		c.Close()
		if err := c.Backup(ctx, filepath.Join(t.TempDir(), "x.db"), nil); !errors.Is(err, resonance.ErrClosed) {
			t.Errorf("Backup on a closed store = %v, want ErrClosed", err)
		}
	})
}

func TestStore_BackupProgress(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "p", 6000)
	dest := filepath.Join(t.TempDir(), "copy.db")
	var mu sync.Mutex
	var calls [][2]int64
	err := s.Backup(ctx, dest, func(copied, total int64) {
		mu.Lock()
		calls = append(calls, [2]int64{copied, total})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 {
		t.Fatal("progress was never called")
	}
	last := calls[len(calls)-1]
	size := fileSizeOf(t, dest)
	if last != [2]int64{size, size} {
		t.Errorf("last progress = %v, want [%d %d]", last, size, size)
	}
	for i, c := range calls {
		if c[0] < 0 || c[0] > c[1] || (i > 0 && c[0] < calls[i-1][0]) {
			t.Errorf("progress %d = %v after %v: want 0 <= copied <= total, copied growing", i, c, calls[max(i-1, 0)])
		}
	}
	t.Logf("%d progress calls: %v", len(calls), calls)
}

func fileSizeOf(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestStore_BackupWhileWriting is O2: a backup taken while a goroutine of
// this process and another process keep writing is one consistent
// snapshot that passes integrity_check and opens with the connector, and
// the writers are not held up by it.
func TestStore_BackupWhileWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("writes for a few seconds")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "graph.db")
	s := openStoreAt(t, path, resonance.Options{})
	fillGraph(t, s, "base", 4000)

	child := exec.Command(os.Args[0], "-test.run=^TestBackupHelperProcess$", "-test.count=1")
	child.Env = append(os.Environ(), backupWriterEnv+"="+path)
	out := &lockedBuffer{}
	child.Stdout, child.Stderr = out, out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	childDone := make(chan struct{})
	var childErr error
	go func() { childErr = child.Wait(); close(childDone) }()
	t.Cleanup(func() {
		os.WriteFile(path+".stop", nil, 0o644)
		select {
		case <-childDone:
		case <-time.After(30 * time.Second):
			child.Process.Kill()
		}
	})
	countChild := func() int {
		var n int
		s.ReadDB().QueryRow(`SELECT count(*) FROM nodes WHERE id LIKE 'child-%'`).Scan(&n)
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); countChild() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the writer process wrote nothing in 20s:\n%s", out.String())
		}
	}

	var commits atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := resonance.Node{ID: fmt.Sprintf("goroutine-%06d", i), Type: "doc", Embedding: graphEmbedding(384, uint64(i))}
			if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error { return tx.UpsertNode(ctx, n) }); err != nil {
				werr = err
				return
			}
			commits.Add(1)
		}
	})

	// A backup of this size takes tens of milliseconds, and on a loaded
	// machine the writer goroutine may sleep in SQLite's busy handler (the
	// writer process holds the lock) for all of one: the backup is taken
	// again, up to five times, until the goroutine committed during one.
	// A backup that blocked the writers would see no commit in any.
	time.Sleep(20 * time.Millisecond)
	var dest string
	var took time.Duration
	var during int64
	childBefore := countChild()
	for attempt := range 5 {
		dest = filepath.Join(t.TempDir(), fmt.Sprintf("backup-%d.db", attempt))
		before := commits.Load()
		start := time.Now()
		if err := s.Backup(ctx, dest, nil); err != nil {
			t.Fatal(err)
		}
		took = time.Since(start)
		if during = commits.Load() - before; during > 0 {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatalf("writer goroutine: %v", werr)
	}
	if err := os.WriteFile(path+".stop", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-childDone
	if childErr != nil {
		t.Fatalf("writer process: %v\n%s", childErr, out.String())
	}
	childDuring := countChild() - childBefore

	outputtest.OnlyLeft(t, filepath.Dir(dest), filepath.Base(dest))
	n := checkBackup(t, dest)
	if n < 4000 {
		t.Errorf("backup holds %d nodes, want at least the 4000 written before it", n)
	}
	if during == 0 {
		t.Errorf("the writer goroutine committed nothing during the %v backup: it was blocked", took)
	}
	if childDuring == 0 {
		t.Errorf("the writer process committed nothing while the backup ran")
	}
	t.Logf("backup of %d nodes took %v; meanwhile %d goroutine commits, %d process commits by the end", n, took, during, childDuring)
}

// lockedBuffer collects a child's output from its two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
