package resonance

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// systemErrno returns the operating system's error number behind err: the
// errno SQLite saw when a file operation failed (the driver records it),
// or that of a failed system call made from Go. It returns 0 when err
// carries none.
func systemErrno(err error) syscall.Errno {
	var se sqlite3.Error
	if errors.As(err, &se) && se.SystemErrno != 0 {
		return se.SystemErrno
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return 0
}

// osError is an error the operating system caused, explained with its
// fix. It wraps the errno, for errors.Is, and the original error.
type osError struct {
	errno syscall.Errno
	fix   string
	err   error
}

func (e *osError) Error() string {
	return e.errno.Error() + ": " + e.fix + " (" + e.err.Error() + ")"
}

func (e *osError) Unwrap() []error { return []error{e.errno, e.err} }

// The fixes osError gives. Every pooled connection holds the database and
// its -wal open (and the process one -shm), so a low `ulimit -n` fails on
// the connections beyond the first few.
const (
	fileLimitFix = "raise the limit (ulimit -n) or lower MaxReaders"
	noSpaceFix   = "free space on the file system holding the database, or move the database to one with room"
)

// explainOS returns err as an osError when it was caused by the limit on
// open files (EMFILE per process, ENFILE system-wide) or a full file
// system (ENOSPC, EDQUOT, or SQLite's SQLITE_FULL), and err unchanged
// otherwise.
func explainOS(err error) error {
	var oe *osError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	switch en := systemErrno(err); {
	case en == syscall.EMFILE || en == syscall.ENFILE:
		return &osError{errno: en, fix: fileLimitFix, err: err}
	case en == syscall.ENOSPC || en == syscall.EDQUOT:
		return &osError{errno: en, fix: noSpaceFix, err: err}
	}
	if code, _, ok := sqliteCode(err); ok && code == sqlite3.ErrFull {
		return &osError{errno: syscall.ENOSPC, fix: noSpaceFix, err: err}
	}
	return err
}

var poller struct {
	mu      sync.Mutex
	started bool
}

// StartPoller makes the Go runtime set up its poller now, and returns an
// error wrapping syscall.EMFILE, with the fix, when the process has too few
// free file descriptors for it.
//
// The runtime sets the poller up the first time a file is opened through
// package os, and needs two descriptors for it (epoll and an eventfd) on
// top of the file's own. When they cannot be had, because SQLite, which
// opens files on its own, or the runtime itself took the last ones, it
// aborts the whole process with a fatal error instead of returning one.
// Every store and pool calls StartPoller before its first connection, so
// that the runtime's descriptors come before SQLite's; a program that
// opens files of its own before it opens a store can call it first.
func StartPoller() error {
	poller.mu.Lock()
	defer poller.mu.Unlock()
	if poller.started {
		return nil
	}
	// Count three free descriptors with system calls that, unlike package
	// os, do not start the poller: running short here is an ordinary error.
	fds := make([]int, 0, 3)
	var probe error
	for range 3 {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			probe = err // ENOENT (no /dev/null to count with): let the open below decide
			break
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	if en, _ := probe.(syscall.Errno); en == syscall.EMFILE || en == syscall.ENFILE {
		return &osError{errno: en, fix: fileLimitFix, err: errors.New("the Go runtime needs three free file descriptors before it can open any file")}
	}
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	} else if f, err := os.Open("/"); err == nil {
		f.Close()
	}
	poller.started = true
	return nil
}
