//go:build linux

package conformance

import "syscall"

const (
	atFDCWD   = -0x64
	atEACCESS = 0x200
	accessR   = 0x4
	accessW   = 0x2
	accessX   = 0x1
	accessRW  = accessR | accessW
	accessWX  = accessW | accessX
)

// access reports whether the current process may use path in mode, judged
// with its effective user and group IDs, as the kernel will judge the open
// calls SQLite makes (faccessat with AT_EACCESS).
func access(path string, mode uint32) error {
	return syscall.Faccessat(atFDCWD, path, mode, atEACCESS)
}
