package fsfix

import (
	"errors"
	"fmt"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged user may still write on the
// file system holding path (statfs: available blocks × block size).
func FreeSpace(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// NoSpace reports whether err says that the file system is full (ENOSPC)
// or the user's disk quota is used up (EDQUOT).
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// The fixes for an error of the operating system that a change of set-up
// cures: the limit on open files reached (EMFILE, ENFILE), and a full file
// system or disk quota (ENOSPC, EDQUOT). The library's errors carry them,
// and the CLI adds them to its own.
const (
	FileLimitFix = "raise the limit (ulimit -n)"
	FullDiskFix  = "free space on the file system holding the file, or move the file to one with room"
)

// NoSpaceFix is the fix for a full file system holding dir.
func NoSpaceFix(dir string) string {
	free := "unknown"
	if n, err := FreeSpace(dir); err == nil {
		free = fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("free space on the file system holding %s (free now: %s), or move the database to one with room: "+
		"a checkpoint, a vacuum or a backup needs about as much free space as the database and its -wal take",
		Quote(dir), free)
}
