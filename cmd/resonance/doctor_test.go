package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestDoctor_Healthy(t *testing.T) {
	db := filepath.Join(t.TempDir(), "graph.db")
	mustCLI(t, 0, "", "--db", db, "init", "--example")
	r := mustCLI(t, 0, "", "--db", db, "doctor")
	for _, rule := range []string{"W1", "W5", "M1", "C9", "O1"} {
		if !hasLine(r.stdout, "OK", "("+rule+")") {
			t.Errorf("doctor output lacks OK for %s:\n%s", rule, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "integrity_check: ok") || !strings.Contains(r.stdout, "no problems found") || r.stderr != "" {
		t.Errorf("doctor on a healthy database:\n%s\n%s", r.stdout, r.stderr)
	}
	var rep doctorReport
	decode(t, mustCLI(t, 0, "", "doctor", db, "--json"), &rep) // PATH instead of --db
	if !rep.OK || rep.DB != db || len(rep.Checks) < 5 {
		t.Errorf("doctor --json: %+v", rep)
	}
	for _, c := range rep.Checks {
		if c.Status != "ok" {
			t.Errorf("check %+v on a healthy database", c)
		}
	}
	var conf doctorReport
	decode(t, mustCLI(t, 0, "", "--db", db, "doctor", "--conformance", "--json"), &conf)
	rules := map[string]bool{}
	for _, c := range conf.Checks {
		rules[c.Rule] = true
	}
	for _, rule := range []string{"W1", "C1", "C4", "C8", "C9", "M1", "M4", "O1"} {
		if !rules[rule] {
			t.Errorf("doctor --conformance did not check %s: %+v", rule, conf.Checks)
		}
	}
	mustCLI(t, 0, "", "doctor", "--conformance", db)
}

func TestDoctor_Problems(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "missing.db")
		r := mustCLI(t, 1, "", "--db", db, "doctor")
		if !strings.Contains(r.stdout, "resonance init --db "+db) || !strings.Contains(r.stderr, `resonance: doctor "`+db+`": 1 problem,`) {
			t.Errorf("stderr %q lacks the fix", r.stderr)
		}
		if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("doctor created the database")
		}
		mustCLI(t, 1, "", "--db", db, "doctor", "--conformance")
	})
	t.Run("world-writable", func(t *testing.T) {
		db := newDB(t)
		if err := os.Chmod(db, 0o666); err != nil {
			t.Fatal(err)
		}
		r := mustCLI(t, 1, "", "--db", db, "doctor")
		if !hasLine(r.stdout, "FAIL", "(W1)") || !strings.Contains(r.stdout, "chmod o-w "+db) || !strings.Contains(r.stderr, " problem") {
			t.Errorf("doctor on a world-writable database:\n%s\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "graph.db")
		damage(t, db)
		r := mustCLI(t, 1, "", "--db", db, "doctor")
		if !hasLine(r.stdout, "FAIL", "O1") || !strings.Contains(r.stdout, "restore") {
			t.Errorf("doctor on a damaged database:\n%s\n%s", r.stdout, r.stderr)
		}
	})
	t.Run("not a database", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "junk.db")
		if err := os.WriteFile(db, bytes.Repeat([]byte("junk"), 1024), 0o644); err != nil {
			t.Fatal(err)
		}
		r := mustCLI(t, 1, "", "--db", db, "doctor")
		if !hasLine(r.stdout, "FAIL", "C10") {
			t.Errorf("doctor on a junk file:\n%s\n%s", r.stdout, r.stderr)
		}
	})
}

// hasLine reports whether a line of text starts with prefix and contains s.
func hasLine(text, prefix, s string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, s) {
			return true
		}
	}
	return false
}

const nobody = 65534

// worldDir makes a directory that every user may search, and removes it
// at the end of the test (t.TempDir's parents are private to root).
func worldDir(t *testing.T, mode os.FileMode, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "resonance-doctor-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// asNobody runs the CLI binary at bin as uid/gid 65534 with no
// supplementary groups, and returns its stdout, stderr and exit code.
func asNobody(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("running %s as uid %d: %v", bin, nobody, err)
	return "", "", -1
}

// TestDoctor_Unprivileged checks W1 as an unprivileged user: root ignores
// permission bits, so the CLI runs in a child process as nobody. A database
// in a directory nobody cannot write fails with a fix naming the directory
// (and doctor still reports, though the database cannot be opened); a
// database nobody owns, in a directory nobody owns, is healthy.
func TestDoctor_Unprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as uid 65534 (nobody): not root, and an unprivileged process cannot setuid")
	}
	if testing.Short() {
		t.Skip("builds the CLI binary")
	}
	binDir := worldDir(t, 0o755, 0)
	bin := filepath.Join(binDir, "resonance")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("directory not writable", func(t *testing.T) {
		dir := worldDir(t, 0o755, 0) // root's, nobody may only search it
		db := filepath.Join(dir, "graph.db")
		mustCLI(t, 0, "", "--db", db, "init", "--example")
		before, _ := os.ReadDir(dir)

		stdout, stderr, code := asNobody(t, bin, "--db", db, "doctor", "--json")
		if code != 1 {
			t.Fatalf("doctor as nobody: exit %d, want 1\n%s\n%s", code, stdout, stderr)
		}
		var rep doctorReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("doctor --json as nobody: %v\n%s", err, stdout)
		}
		var named bool
		for _, c := range rep.Checks {
			if c.Rule == "W1" && c.Status == "fail" && strings.HasPrefix(c.Detail, dir+":") && strings.Contains(c.Fix, dir) {
				named = true
			}
		}
		if !named {
			t.Errorf("no W1 failure naming the directory %s and its fix: %+v", dir, rep.Checks)
		}
		if !strings.Contains(stderr, "resonance: doctor") || !strings.Contains(stderr, "fix: ") || !strings.Contains(stderr, dir) {
			t.Errorf("stderr does not name the directory and the fix:\n%s", stderr)
		}

		text, _, code := asNobody(t, bin, "--db", db, "doctor")
		if code != 1 || !hasLine(text, "FAIL", dir+": directory") || !strings.Contains(text, "fix: ") {
			t.Errorf("doctor as nobody (text): exit %d\n%s", code, text)
		}
		after, _ := os.ReadDir(dir)
		if len(after) != len(before) {
			t.Errorf("doctor changed the directory: %d entries before, %d after", len(before), len(after))
		}
	})

	t.Run("symlink into a directory not writable", func(t *testing.T) {
		// SQLite keeps -wal and -shm beside the file a link leads to: that
		// directory is the one to check, not the link's.
		real := worldDir(t, 0o755, 0)
		db := filepath.Join(real, "graph.db")
		mustCLI(t, 0, "", "--db", db, "init")
		if err := os.Chown(db, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		links := worldDir(t, 0o755, 65534)
		link := filepath.Join(links, "graph.db")
		if err := os.Symlink(db, link); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := asNobody(t, bin, "--db", link, "doctor", "--json")
		var rep doctorReport
		if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil {
			t.Fatalf("doctor as nobody through a link: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
		}
		var named bool
		for _, c := range rep.Checks {
			if c.Rule == "W1" && c.Status == "fail" && strings.HasPrefix(c.Detail, real+":") {
				named = true
			}
		}
		if !named {
			t.Errorf("doctor through a link did not name the directory the link leads to, %s: %+v", real, rep.Checks)
		}
	})

	t.Run("someone else's", func(t *testing.T) {
		// Fixes ask for the least that works: a group made to share the
		// directory and the files, never group 0, world access, or a
		// change of owner of another user's files.
		for _, owner := range []int{0, 1234} {
			dir := worldDir(t, 0o755, owner)
			db := filepath.Join(dir, "graph.db")
			mustCLI(t, 0, "", "--db", db, "init")
			if err := os.Chown(db, owner, owner); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := asNobody(t, bin, "--db", db, "doctor", "--json")
			var rep doctorReport
			if err := json.Unmarshal([]byte(stdout), &rep); code != 1 || err != nil {
				t.Fatalf("doctor as nobody on uid %d's database: exit %d, %v\n%s\n%s", owner, code, err, stdout, stderr)
			}
			fixes := map[string]string{}
			for _, c := range rep.Checks {
				if c.Status != "fail" {
					continue
				}
				// The paths (random temporary names) may hold any digits:
				// look for modes in the fix without them.
				fix := strings.NewReplacer(db, "DB", dir, "DIR").Replace(c.Fix)
				for _, bad := range []string{"chown", "group 0", "-aG root", "o+w", "a+w", "777", "666"} {
					if strings.Contains(fix, bad) {
						t.Errorf("uid %d's database: the fix suggests %q: %s", owner, bad, c.Fix)
					}
				}
				if c.Rule == "W1" {
					path, _, _ := strings.Cut(c.Detail, ": ")
					fixes[path] = c.Fix
				}
			}
			for path, mode := range map[string]string{dir: "g+rwx,g+s", db: "g+rw"} {
				for _, want := range []string{"groupadd -f resonance", "usermod -aG resonance nobody", "chgrp resonance " + path, "chmod " + mode + " " + path} {
					if !strings.Contains(fixes[path], want) {
						t.Errorf("uid %d's database: the fix for %s lacks %q: %q", owner, path, want, fixes[path])
					}
				}
			}
		}
	})

	t.Run("healthy", func(t *testing.T) {
		dir := worldDir(t, 0o755, nobody)
		db := filepath.Join(dir, "graph.db")
		if stdout, stderr, code := asNobody(t, bin, "--db", db, "init", "--example"); code != 0 {
			t.Fatalf("init as nobody: exit %d\n%s\n%s", code, stdout, stderr)
		}
		stdout, stderr, code := asNobody(t, bin, "--db", db, "doctor")
		if code != 0 || !strings.Contains(stdout, "no problems found") {
			t.Fatalf("doctor as nobody on its own database: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if _, _, code := asNobody(t, bin, "--db", db, "doctor", "--conformance"); code != 0 {
			t.Errorf("doctor --conformance as nobody: exit %d", code)
		}
	})
}
