package main

import (
	"errors"
	"strings"
	"syscall"
)

// The advice for running out of file descriptors and of disk space; the
// library adds it to the errors of SQLite, the CLI to its own.
const (
	fileLimitFix = "raise the limit (ulimit -n) or lower MaxReaders"
	noSpaceFix   = "free space on the file system holding the file, or write it to one with room"
)

// explain returns the message of err, with the fix added to an error of
// the operating system that does not carry one yet.
func explain(err error) string {
	msg := err.Error()
	explained := strings.Contains(msg, "ulimit -n") || strings.Contains(msg, "free space on the file system")
	if fix := osFix(err, ""); fix != "" && !explained {
		msg += ": " + fix
	}
	return msg
}

// osFix is the fix for an error the operating system caused, or def when
// err is not one of those.
func osFix(err error, def string) string {
	switch {
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return fileLimitFix
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return noSpaceFix
	}
	return def
}
