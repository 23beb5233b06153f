package conformance_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// overreach lists what a permission fix must never suggest: group 0, world
// access, or taking a file from its owner.
var overreach = []string{"chown", "group 0", "-aG root", "-aG 0 ", "o+w", "a+w", "o+rw", "777", "666", "to group 0"}

// absPath matches an absolute path in a fix's text.
var absPath = regexp.MustCompile(`/[^\s;:"'()]*`)

// checkLeastFix fails unless fix gives path to the user through a group
// made for the purpose, with mode, and suggests nothing of overreach.
func checkLeastFix(t *testing.T, what, path, mode, fix string) {
	t.Helper()
	// Paths (random temporary names) may hold any digits: look for modes in
	// the fix without them.
	bare := absPath.ReplaceAllString(fix, "PATH")
	for _, bad := range overreach {
		if strings.Contains(bare, bad) {
			t.Errorf("W1: the fix for %s suggests %q: %s", what, bad, fix)
		}
	}
	for _, want := range []string{"groupadd -f resonance", "chgrp resonance " + path, "chmod " + mode + " " + path} {
		if !strings.Contains(fix, want) {
			t.Errorf("W1: the fix for %s lacks %q: %s", what, want, fix)
		}
	}
}

// TestW1_FixesAskForTheLeast runs as an unprivileged user against a
// database it does not own, in a directory it cannot write: root's, and
// another ordinary user's. What CheckPermissions (the doctor) and the
// connector's open error suggest must share the directory and the files
// through a group made for the purpose, never add the user to group 0,
// make anything world-writable, or change the owner of someone else's
// files.
func TestW1_FixesAskForTheLeast(t *testing.T) {
	u := asUnprivileged(t)
	if u.cred == nil {
		t.Skip("needs root: the files must belong to users other than the one that checks them")
	}
	for _, owner := range []struct {
		name string
		uid  int
	}{{"root's", 0}, {"another user's", 1234}} {
		t.Run(owner.name, func(t *testing.T) {
			dir := u.workDir(t)
			path := filepath.Join(dir, "graph.db")
			createDB(t, path)
			for _, p := range []string{dir, path} {
				if err := os.Chown(p, owner.uid, owner.uid); err != nil {
					t.Fatal(err)
				}
			}
			var perms permsResult
			start(t, u.spawn("check-perms", childArgs{DB: path})).result(&perms, 60*time.Second)
			if f, ok := findingFor(perms.Findings, dir); !ok {
				t.Errorf("W1: no finding about the directory %s: %v", dir, perms.Findings)
			} else {
				checkLeastFix(t, "the directory", dir, "g+rwx,g+s", f.Fix)
			}
			if f, ok := findingFor(perms.Findings, path); !ok {
				t.Errorf("W1: no finding about the database %s: %v", path, perms.Findings)
			} else {
				checkLeastFix(t, "the database", path, "g+rw", f.Fix)
			}
			if owner.uid != 0 && !strings.Contains(perms.Findings[0].Fix, `usermod -aG resonance "$(id -nu 1234)"`) {
				t.Errorf("W1: the fix does not put the owner, uid 1234, in the shared group too: %s", perms.Findings[0].Fix)
			}

			var w tryResult
			start(t, u.spawn("try-write", childArgs{DB: path})).result(&w, 60*time.Second)
			if w.Err == "" {
				t.Fatalf("W1: %s opened a database in a directory it cannot write", u.name())
			}
			checkLeastFix(t, "the open error", dir, "g+rwx,g+s", w.Err)
		})
	}
}
