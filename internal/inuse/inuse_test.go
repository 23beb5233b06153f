package inuse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestHelperHold is not a test: run as a child by TestProcesses, it takes
// a read lock on a byte of the file named by INUSE_HOLD, says so on
// stdout, and holds it until its stdin closes.
func TestHelperHold(t *testing.T) {
	name := os.Getenv("INUSE_HOLD")
	if name == "" {
		t.Skip("run by TestProcesses")
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Kept reachable until the end: a collected *os.File closes its
	// descriptor, and the lock goes with it.
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
}

func TestProcesses(t *testing.T) {
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skip("no /proc/locks on this system")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "g.db")
	for _, name := range []string{db, db + "-shm", filepath.Join(dir, "other.db-shm")} {
		if err := os.WriteFile(name, make([]byte, 256), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hold := func(name string) int {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHold$")
		cmd.Env = append(os.Environ(), "INUSE_HOLD="+name)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Wait() })
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
			t.Fatalf("the child did not take its lock: %q, %v", line, err)
		}
		return cmd.Process.Pid
	}

	// This process's own lock is not another process's.
	f, err := os.OpenFile(db+"-shm", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if pids, err := Processes(db); err != nil || len(pids) != 0 {
		t.Fatalf("Processes with only this process's lock = %v, %v; want none", pids, err)
	}

	// Another database's -shm is not this one's.
	hold(filepath.Join(dir, "other.db-shm"))
	if pids, err := Processes(db); err != nil || len(pids) != 0 {
		t.Fatalf("Processes with a lock on another database = %v, %v; want none", pids, err)
	}

	// A lock on -shm, then one on the database file, each names its holder.
	onShm := hold(db + "-shm")
	onDB := hold(db)
	pids, err := Processes(db)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	want := []int{onShm, onDB}
	slices.Sort(want)
	if !slices.Equal(pids, want) {
		t.Fatalf("Processes = %v, want %v (the holders of -shm and of the database)", pids, want)
	}
	if got, want := Describe([]int{onShm}), fmt.Sprintf("process %d (%q)", onShm, "inuse.test"); got != want {
		t.Errorf("Describe = %s, want %s", got, want)
	}
}

// TestHeldHere: a lock this process holds on a file, through any
// descriptor, is seen through another descriptor of the same file, on the
// byte it covers only; none once it is released, and none on another file.
func TestHeldHere(t *testing.T) {
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skip("no /proc/locks on this system")
	}
	dir := t.TempDir()
	name, other := filepath.Join(dir, "g.db-shm"), filepath.Join(dir, "other.db-shm")
	for _, n := range []string{name, other} {
		if err := os.WriteFile(n, make([]byte, 256), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	locker, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	watcher, _ := os.Open(name)
	defer watcher.Close()
	elsewhere, _ := os.Open(other)
	defer elsewhere.Close()
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(locker.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if held, err := HeldHere(watcher); err != nil || !held {
		t.Errorf("HeldHere with a lock held through another descriptor = %v, %v; want true", held, err)
	}
	if held, err := HeldHere(elsewhere); err != nil || held {
		t.Errorf("HeldHere of a file without locks = %v, %v; want false", held, err)
	}
	if locked, err := ByteLocked(watcher, 128); err != nil || !locked {
		t.Errorf("ByteLocked of the locked byte = %v, %v; want true", locked, err)
	}
	if locked, err := ByteLocked(watcher, 121); err != nil || locked {
		t.Errorf("ByteLocked of another byte = %v, %v; want false", locked, err)
	}
	lk.Type = syscall.F_UNLCK
	if err := syscall.FcntlFlock(locker.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if held, err := HeldHere(watcher, elsewhere); err != nil || held {
		t.Errorf("HeldHere after the lock was released = %v, %v; want false", held, err)
	}
}

// TestClose: a descriptor closed beside another that holds a lock would
// drop it; Close keeps such a descriptor open, with the lock in place,
// and closes it at a later call once no lock of this process is left.
func TestClose(t *testing.T) {
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skip("no /proc/locks on this system")
	}
	name := filepath.Join(t.TempDir(), "g.db-shm")
	if err := os.WriteFile(name, make([]byte, 256), 0o600); err != nil {
		t.Fatal(err)
	}
	locker, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(locker.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	Close(reader)
	if _, err := reader.Stat(); err != nil {
		t.Errorf("Close closed a descriptor while this process held a lock on the file: %v", err)
	}
	if held, err := HeldHere(locker); err != nil || !held {
		t.Errorf("after Close, the lock held through another descriptor is gone (%v)", err)
	}
	lk.Type = syscall.F_UNLCK
	if err := syscall.FcntlFlock(locker.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	Close()
	if _, err := reader.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("a parked descriptor is still open once no lock is held: Stat = %v", err)
	}
}
