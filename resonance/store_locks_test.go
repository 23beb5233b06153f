package resonance_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestHelperShmLocks runs in a child process: it reports which of
// SQLite's WAL-index lock bytes (120 WAL_WRITE_LOCK, 128 DMS) of the -shm
// file named by RESONANCE_TEST_SHM another process holds.
func TestHelperShmLocks(t *testing.T) {
	shm := os.Getenv("RESONANCE_TEST_SHM")
	if shm == "" {
		t.Skip("helper")
	}
	f, err := os.OpenFile(shm, os.O_RDWR, 0)
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	defer f.Close()
	for _, b := range []int64{120, 128} {
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: b, Len: 1}
		if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
			fmt.Println("ERR", err)
			return
		}
		fmt.Printf("byte%d=%v ", b, lk.Type != syscall.F_UNLCK)
	}
	fmt.Println()
}

func shmLocks(t *testing.T, shm string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperShmLocks$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RESONANCE_TEST_SHM="+shm)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return strings.Fields(string(out))[0] + " " + strings.Fields(string(out))[1]
}

// TestStore_CloseKeepsTheLocksOfOtherStores: closing a store leaves the
// -shm locks of another store of the process on the same database as
// they are, as another process sees them. close(2) of any descriptor of
// a file drops every POSIX lock the process holds on it, SQLite's
// included (sqlite.org/howtocorrupt.html, 2.2): the checkpointer once
// opened -shm to read the WAL index, and closed it at Close.
func TestStore_CloseKeepsTheLocksOfOtherStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "graph.db")
	a := openStoreAt(t, path, resonance.Options{BusyTimeout: 200 * time.Millisecond, ExternalCheckpoints: os.Getenv("REVIEW_EXT") != ""})
	if err := a.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		return tx.UpsertNode(ctx, resonance.Node{ID: "a", Type: "doc"})
	}); err != nil { // opens the -shm descriptor
		t.Fatal(err)
	}
	b := openStoreAt(t, path, resonance.Options{BusyTimeout: 200 * time.Millisecond})
	// b in a write transaction: it holds the WAL write lock.
	e, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Rollback()
	if err := e.UpsertNode(e.Context(), resonance.Node{ID: "b", Type: "doc"}); err != nil {
		t.Fatal(err)
	}
	before := shmLocks(t, path+"-shm")
	a.Close()
	after := shmLocks(t, path+"-shm")
	t.Logf("locks seen by another process: before a.Close: %s; after: %s", before, after)
	if before != after {
		t.Errorf("closing store a released the -shm locks still held by store b's open write transaction: %s -> %s", before, after)
	}
	_ = sql.ErrTxDone
}
