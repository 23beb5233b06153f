package main

import (
	"errors"
	"strings"
	"syscall"
)

// fileLimitFix is the advice for running out of file descriptors; the
// library adds it to the errors of SQLite, the CLI to its own.
const fileLimitFix = "raise the limit (ulimit -n) or lower MaxReaders"

// explain returns the message of err, with the fix added to an error of
// the operating system that does not carry one yet.
func explain(err error) string {
	msg := err.Error()
	if osFix(err, "") == fileLimitFix && !strings.Contains(msg, fileLimitFix) {
		msg += ": " + fileLimitFix
	}
	return msg
}

// osFix is the fix for an error the operating system caused, or def when
// err is not one of those.
func osFix(err error, def string) string {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return fileLimitFix
	}
	return def
}
