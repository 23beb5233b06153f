//go:build unix && !linux

package conformance

import "syscall"

const (
	accessR  = 0x4
	accessW  = 0x2
	accessX  = 0x1
	accessRW = accessR | accessW
	accessWX = accessW | accessX
)

// access reports whether the current process may use path in mode. Outside
// Linux it asks access(2), which judges the real user and group IDs; they
// match the effective ones unless the binary is set-user-ID.
func access(path string, mode uint32) error {
	return syscall.Access(path, mode)
}
