package resonance

import (
	"errors"
	"syscall"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
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

// SystemError is an error the operating system caused that a change of
// set-up cures: the process or the system reached its limit on open files
// (EMFILE, ENFILE), or the file system holding the database is full or the
// user's quota used up (ENOSPC, EDQUOT, SQLite's SQLITE_FULL). Fix says
// what to do; errors.Is sees the errno and the error it explains. Each
// reader connection holds the database and its -wal open, so a program
// short of file descriptors may also lower Options.MaxReaders.
type SystemError struct {
	Fix   string
	errno syscall.Errno
	err   error
}

func (e *SystemError) Error() string {
	msg := e.Fix
	if e.errno != 0 {
		msg = e.errno.Error() + ": " + msg
	}
	if e.err != nil {
		msg += " (" + e.err.Error() + ")"
	}
	return msg
}

func (e *SystemError) Unwrap() []error { return []error{e.errno, e.err} }

// explainOS returns err as a *SystemError when it was caused by the limit on
// open files (EMFILE per process, ENFILE system-wide) or a full file
// system (ENOSPC, EDQUOT, or SQLite's SQLITE_FULL), and err unchanged
// otherwise.
func explainOS(err error) error {
	var oe *SystemError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	switch en := systemErrno(err); {
	case en == syscall.EMFILE || en == syscall.ENFILE:
		return &SystemError{errno: en, Fix: fsfix.FileLimitFix, err: err}
	case en == syscall.ENOSPC || en == syscall.EDQUOT:
		return &SystemError{errno: en, Fix: fsfix.FullDiskFix, err: err}
	}
	if code, _, ok := sqliteCode(err); ok && code == sqlite3.ErrFull {
		return &SystemError{errno: syscall.ENOSPC, Fix: fsfix.FullDiskFix, err: err}
	}
	return err
}
