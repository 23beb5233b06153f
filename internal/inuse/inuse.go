// Package inuse tells which other processes have a SQLite database open.
//
// Every SQLite connection to a WAL database holds a shared lock on a byte
// of its -shm file for as long as it is open, and a connection in the
// middle of a transaction in rollback-journal mode holds locks on the
// database file itself. The locks are read from /proc/locks (Linux), which
// needs no descriptor of the files: opening and closing one, as a probe
// with F_GETLK would, drops every POSIX lock this process holds on that
// file, so a process that has the database open itself could not ask.
package inuse

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Processes returns the ids of the processes other than this one that hold
// a lock on the database at path or on its -shm file, in the order the
// kernel lists them. It returns an error when the locks cannot be read (no
// /proc/locks: not Linux, or /proc not mounted); the caller then cannot
// tell whether the database is in use.
func Processes(path string) ([]int, error) {
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return nil, err
	}
	var files []string
	for _, name := range []string{path, path + "-shm"} {
		if id, ok := lockID(name); ok {
			files = append(files, id)
		}
	}
	var pids []int
	for line := range strings.SplitSeq(string(locks), "\n") {
		// "1: POSIX  ADVISORY  READ 21998 fe:00:10781884 128 128"; a lock
		// that blocks another has a "->" field before its own.
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "->" {
			f = f[1:]
		}
		if len(f) < 6 || !slices.Contains(files, f[5]) {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err == nil && pid > 0 && pid != os.Getpid() && !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// HeldHere reports whether this process holds a lock on any of the files
// (SQLite's connections lock the database and its -shm). Closing a
// descriptor of a file drops every POSIX lock the process holds on it, so
// a descriptor opened beside SQLite's may be closed only when none is
// held. It returns an error when the locks cannot be read.
func HeldHere(files ...*os.File) (bool, error) {
	pid := os.Getpid()
	return anyLock(files, func(owner int, _, _ string) bool { return owner == pid })
}

// Close closes files once this process holds no lock on them, together
// with those an earlier call left open: a descriptor opened beside
// SQLite's connections, to read the database or its -shm, must not drop
// their locks when it is closed (see HeldHere). Until then a file stays
// open, and the next call looks again. Where the locks cannot be read, it
// stays open.
func Close(files ...*os.File) {
	parked.Lock()
	defer parked.Unlock()
	keep := parked.files[:0]
	for _, f := range append(parked.files, files...) {
		if f == nil {
			continue
		}
		if held, err := HeldHere(f); err == nil && !held {
			f.Close()
		} else {
			keep = append(keep, f)
		}
	}
	parked.files = keep
}

// parked holds the files Close left open.
var parked struct {
	sync.Mutex
	files []*os.File
}

// ByteLocked reports whether any process, this one included, holds a
// lock on the byte at offset off of f: SQLite's -shm locks are bytes from
// offset 120 (the checkpoint's is 121). It returns an error when the locks
// cannot be read.
func ByteLocked(f *os.File, off int64) (bool, error) {
	return anyLock([]*os.File{f}, func(_ int, start, end string) bool {
		s, err1 := strconv.ParseInt(start, 10, 64)
		e, err2 := strconv.ParseInt(end, 10, 64)
		if end == "EOF" {
			e, err2 = off, nil
		}
		return err1 == nil && err2 == nil && s <= off && off <= e
	})
}

// anyLock reports whether /proc/locks lists a lock on one of files for
// which match, given the owner's process id and the first and last byte,
// is true.
func anyLock(files []*os.File, match func(owner int, start, end string) bool) (bool, error) {
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false, err
	}
	var ids []string
	for _, f := range files {
		fi, err := f.Stat()
		if err != nil {
			return false, err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false, fmt.Errorf("%s: the file system reports no device and inode numbers", f.Name())
		}
		ids = append(ids, lockName(uint64(st.Dev), st.Ino))
	}
	for line := range strings.SplitSeq(string(locks), "\n") {
		// "1: POSIX  ADVISORY  WRITE 21998 fe:00:10781884 121 121"
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "->" {
			f = f[1:]
		}
		if len(f) < 8 || !slices.Contains(ids, f[5]) {
			continue
		}
		if owner, err := strconv.Atoi(f[4]); err == nil && match(owner, f[6], f[7]) {
			return true, nil
		}
	}
	return false, nil
}

// Describe names each process by its id and command name, for an error
// message: `process 123 ("litestream")`.
func Describe(pids []int) string {
	var who []string
	for _, pid := range pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		who = append(who, fmt.Sprintf("process %d (%q)", pid, strings.TrimSpace(string(comm))))
	}
	return strings.Join(who, ", ")
}

// lockID is the file at name as /proc/locks names it: the major and minor
// device numbers in hex and the inode in decimal.
func lockID(name string) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return "", false
	}
	return lockName(uint64(st.Dev), st.Ino), true
}

// lockName is how /proc/locks names the file with device dev and inode ino.
func lockName(dev, ino uint64) string {
	major, minor := (dev>>8)&0xfff|(dev>>32)&^0xfff, dev&0xff|(dev>>12)&^0xff
	return fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
}
