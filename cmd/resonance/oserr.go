package main

import (
	"errors"
	"syscall"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/resonance"
)

// explain returns the message of err, with the fix added to an error of
// the operating system that the library has not explained already.
func explain(err error) string {
	msg := err.Error()
	var se *resonance.SystemError
	if errors.As(err, &se) {
		return msg
	}
	if fix := osFix(err, ""); fix != "" {
		msg += ": " + fix
	}
	return msg
}

// osFix is the fix for an error the operating system caused, or def when
// err is not one of those.
func osFix(err error, def string) string {
	var se *resonance.SystemError
	switch {
	case errors.As(err, &se):
		return se.Fix
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return fsfix.FileLimitFix
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return fsfix.FullDiskFix
	}
	return def
}
