// Package poller makes the Go runtime set up its network poller before
// SQLite takes the process's last file descriptors.
package poller

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

var state struct {
	mu      sync.Mutex
	started bool
}

// Start makes the Go runtime set up its poller now, and returns an error
// wrapping syscall.EMFILE (or ENFILE) when the process has too few free
// file descriptors for it.
//
// The runtime sets the poller up the first time a file is opened through
// package os, and needs two descriptors for it (epoll and an eventfd) on
// top of the file's own. When they cannot be had, because SQLite, which
// opens files on its own, or the runtime itself took the last ones, it
// aborts the whole process with a fatal error instead of returning one.
// Every store and pool calls Start before its first connection, so that
// the runtime's descriptors come before SQLite's; the CLI calls it before
// it opens anything.
func Start() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.started {
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
		return fmt.Errorf("the Go runtime needs three free file descriptors before it can open any file: %w", en)
	}
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	} else if f, err := os.Open("/"); err == nil {
		f.Close()
	}
	state.started = true
	return nil
}
