package fsfix

import (
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeInfo is the FileInfo of a file owned by uid and gid.
type fakeInfo struct {
	dir      bool
	uid, gid uint32
}

func (f fakeInfo) Name() string { return "x" }
func (f fakeInfo) Size() int64  { return 0 }
func (f fakeInfo) Mode() fs.FileMode {
	return map[bool]fs.FileMode{true: fs.ModeDir | 0o755, false: 0o644}[f.dir]
}
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid, Gid: f.gid} }

func TestGrant(t *testing.T) {
	me, mygid := uint32(os.Geteuid()), uint32(os.Getegid())
	other := me + 4242 // neither this user nor, in a test, one of its groups
	cases := []struct {
		name string
		fi   fakeInfo
		perm string
		want []string
		not  []string
	}{
		{"own directory", fakeInfo{true, me, other}, "wx", []string{"chmod u+wx /d"}, []string{"group"}},
		{"own file", fakeInfo{false, me, other}, "rw", []string{"chmod u+rw /d"}, []string{"group"}},
		{"root's directory", fakeInfo{true, 0, 0}, "wx",
			[]string{"groupadd -f resonance", "usermod -aG resonance ", "chgrp resonance /d", "chmod g+rwx,g+s /d"},
			[]string{"chown", "-aG root", "-aG 0", "o+", "a+"}},
		{"another user's file", fakeInfo{false, other, other}, "rw",
			[]string{"groupadd -f resonance", "chgrp resonance /d", "chmod g+rw /d"},
			[]string{"chown", "o+", "a+", "g+rwx"}},
	}
	if mygid != 0 {
		cases = append(cases, struct {
			name string
			fi   fakeInfo
			perm string
			want []string
			not  []string
		}{"a group of mine", fakeInfo{true, other, mygid}, "wx", []string{"chmod g+wx /d"}, []string{"groupadd", "chown"}})
	}
	for _, c := range cases {
		if c.fi.uid == me && c.name == "root's directory" {
			continue // running as root: that is our own directory
		}
		got := Grant("/d", c.fi, c.perm)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Grant = %q, lacks %q", c.name, got, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: Grant = %q, suggests %q", c.name, got, n)
			}
		}
	}
	// Another user's files: the owner joins the group too, or the files
	// the new member creates would shut the owner out.
	if got := Grant("/d", fakeInfo{false, other, other}, "rw"); strings.Count(got, "usermod -aG resonance") != 2 {
		t.Errorf("another user's file: Grant = %q, want both users added to the group", got)
	}
}

func TestReadOnly(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{syscall.EROFS, true},
		{&fs.PathError{Op: "access", Path: "/ro", Err: syscall.EROFS}, true},
		{syscall.EACCES, false},
		{nil, false},
	} {
		if got := ReadOnly(c.err); got != c.want {
			t.Errorf("ReadOnly(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	fix := ReadOnlyFix("/ro/my graph.db")
	for _, w := range []string{"mounted read-only", "copy the database", `sqlite3 'file:///ro/my%20graph.db?immutable=1'`} {
		if !strings.Contains(fix, w) {
			t.Errorf("ReadOnlyFix = %q, lacks %q", fix, w)
		}
	}
	if strings.Contains(fix, "chmod u+") {
		t.Errorf("ReadOnlyFix = %q suggests chmod", fix)
	}
}
