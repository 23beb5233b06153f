// Package fsfix words the fixes resonance suggests for problems with the
// files of a database and the file system that holds them: permissions
// that keep a user out, a file system mounted read-only, a full disk. The
// library's open errors and the doctor's findings use the same words.
//
// A fix asks for the least that works: chmod for a user who owns the file
// or shares its group, else a group made for the purpose. It never suggests
// group 0, access for every user, or taking a file from its owner.
package fsfix

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// SharedGroup is the group suggested for users who share a database.
const SharedGroup = "resonance"

// Grant says how the current (effective) user can get perm ("rw" on a
// file, "wx" on a directory) on p, whose FileInfo is fi.
func Grant(p string, fi fs.FileInfo, perm string) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() {
		return fmt.Sprintf("chmod u+%s %s", perm, Quote(p))
	}
	if st.Gid != 0 && inGroup(int(st.Gid)) {
		return fmt.Sprintf("chmod g+%s %s (it belongs to your group %s)", perm, Quote(p), groupName(int(st.Gid)))
	}
	me := loginName(os.Geteuid())
	mode := "g+rw"
	if fi.IsDir() {
		// rwx to use the directory, s so that the -wal and -shm files
		// either user creates there get the shared group too.
		mode = "g+rwx,g+s"
	}
	steps := []string{"usermod -aG " + SharedGroup + " " + me}
	if groupName(int(st.Gid)) != SharedGroup {
		steps = []string{"groupadd -f " + SharedGroup, steps[0]}
		if st.Uid != 0 {
			steps = append(steps, "usermod -aG "+SharedGroup+" "+loginName(int(st.Uid)))
		}
		steps = append(steps, "chgrp "+SharedGroup+" "+Quote(p))
	}
	steps = append(steps, "chmod "+mode+" "+Quote(p))
	return fmt.Sprintf("%s belongs to %s and group %s, which %s is not in: share it through a group made for the purpose; as root: %s; then log in again as %s",
		Quote(p), DescribeUser(int(st.Uid)), groupName(int(st.Gid)), DescribeUser(os.Geteuid()), strings.Join(steps, "; "), me)
}

// ReadOnly reports whether err says that the file system is mounted
// read-only (EROFS): access(2) answers so for a write check, before any
// permission bit is looked at.
func ReadOnly(err error) bool {
	return errors.Is(err, syscall.EROFS)
}

// ReadOnlyFix is the fix for a database at db on a file system mounted
// read-only, where no chmod can help: SQLite cannot create -wal and -shm
// there, and in WAL mode even a reader needs them.
func ReadOnlyFix(db string) string {
	return fmt.Sprintf("no chmod can help on a file system mounted read-only: copy the database (and its -wal, if there is one) to a writable file system and open the copy, "+
		"or read it in place without WAL files: sqlite3 %s; or mount the file system read-write",
		Quote((&url.URL{Scheme: "file", Path: db, RawQuery: "immutable=1"}).String()))
}

// inGroup reports whether the current process has gid among its groups.
func inGroup(gid int) bool {
	if os.Getegid() == gid {
		return true
	}
	gs, err := os.Getgroups()
	return err == nil && slices.Contains(gs, gid)
}

// DescribeUser names a user for a message, e.g. `uid 65534 (nobody)`.
func DescribeUser(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

// loginName is the user's login name, for a command line.
func loginName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return Quote(u.Username)
	}
	return fmt.Sprintf(`"$(id -nu %d)"`, uid)
}

// groupName names a group: its name, else its number.
func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil && g.Name != "" {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// Quote quotes p for a POSIX shell when it needs it.
func Quote(p string) string {
	if p != "" && strings.IndexFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%", r))
	}) < 0 {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
