package conformance_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Rules about processes are proved with real processes: the test binary
// re-executes itself with -test.run=^TestHelperProcess$ and the role to play
// in RESONANCE_CONFORMANCE_CHILD (its arguments as JSON in
// RESONANCE_CONFORMANCE_ARGS). A child talks to its parent in lines on
// stdout ("READY", "LOCKED", a final "RESULT {json}") and waits for "go" on
// stdin where several children must start at the same moment.
const (
	envRole = "RESONANCE_CONFORMANCE_CHILD"
	envArgs = "RESONANCE_CONFORMANCE_ARGS"
)

// childArgs are the arguments of every role; each role reads the ones it needs.
type childArgs struct {
	DB       string        `json:"db"`
	Hold     time.Duration `json:"hold,omitempty"`     // how long to hold a lock
	Duration time.Duration `json:"duration,omitempty"` // how long to loop
	Writer   int           `json:"writer,omitempty"`   // this writer's number
	Mode     string        `json:"mode,omitempty"`     // the role's variant
	Count    int           `json:"count,omitempty"`    // how many iterations
	// Migrations is a directory of the application's migrations the
	// child passes to the library (A1).
	Migrations string `json:"migrations,omitempty"`
}

// sharedDir is a world-traversable directory holding a copy of the test
// binary that an unprivileged user can execute; TestMain removes it.
var (
	sharedOnce sync.Once
	sharedDir  string
	sharedBin  string
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// TestHelperProcess is the body of every child process. Run directly it
// does nothing.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(envRole)
	if role == "" {
		t.Log("helper for the conformance tests' child processes: nothing to do when not started as one")
		return
	}
	var a childArgs
	if err := json.Unmarshal([]byte(os.Getenv(envArgs)), &a); err != nil {
		fmt.Fprintf(os.Stderr, "child %s: bad %s: %v\n", role, envArgs, err)
		os.Exit(2)
	}
	fn, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "child: unknown role %q\n", role)
		os.Exit(2)
	}
	if err := fn(a); err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// say prints one protocol line to the parent. os.Stdout is unbuffered, so
// the line has left the process when say returns.
func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// result prints the child's final RESULT line.
func result(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	say("RESULT %s", b)
	return nil
}

// awaitGo prints READY and waits for the parent's "go" on stdin: the
// barrier that starts several processes at the same moment.
func awaitGo() error {
	say("READY")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("waiting for go: %w", err)
	}
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("waiting for go: got %q", line)
	}
	return nil
}

// spawn describes a child process to start.
type spawn struct {
	role string
	args childArgs
	cred *syscall.Credential // run as this user (nil: as the parent)
	bin  string              // the test binary to run; "" means os.Args[0]
	wrap []string            // a command the binary runs under, e.g. strace
}

// proc is a running child process.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr syncBuffer
	mu     sync.Mutex
	out    []string
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t testing.TB, s spawn) *proc {
	t.Helper()
	bin := s.bin
	if bin == "" {
		bin = os.Args[0]
	}
	argv := append(append([]string{}, s.wrap...), bin, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd := exec.Command(argv[0], argv[1:]...)
	a, err := json.Marshal(s.args)
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	cmd.Env = append(os.Environ(), envRole+"="+s.role, envArgs+"="+string(a))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if s.cred != nil {
		cmd.Dir = filepath.Dir(bin) // a directory the user can enter
	}
	p := &proc{t: t, name: fmt.Sprintf("%s[%s]", s.role, filepath.Base(s.args.DB)), cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: starting child %s: %v", rule(t), s.role, err)
	}
	p.name = fmt.Sprintf("%s (pid %d)", p.name, cmd.Process.Pid)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("child %s stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// lines returns every line the child has printed so far.
func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// expect waits until the child prints a line starting with prefix and
// returns the rest of it; it fails the test when the child exits first or
// the timeout passes.
func (p *proc) expect(prefix string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		lines := p.lines()
		for _, l := range lines[seen:] {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		}
		seen = len(lines)
		select {
		case <-p.exited:
			if len(p.lines()) == seen {
				p.t.Fatalf("%s: child %s exited (%v) before printing %q; stderr:\n%s", rule(p.t), p.name, p.err, prefix, p.stderr.String())
			}
			continue
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: child %s did not print %q within %v; stdout %q; stderr:\n%s", rule(p.t), p.name, prefix, timeout, lines, p.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// send writes one line to the child's stdin.
func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: writing to child %s: %v", rule(p.t), p.name, err)
	}
}

func (p *proc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// wait waits for the child to exit and fails the test when it failed.
func (p *proc) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.kill()
		<-p.exited
		p.t.Fatalf("%s: child %s still running after %v; killed it; stderr:\n%s", rule(p.t), p.name, timeout, p.stderr.String())
	}
	if p.err != nil {
		p.t.Fatalf("%s: child %s failed: %v; stderr:\n%s", rule(p.t), p.name, p.err, p.stderr.String())
	}
}

// result waits for the child to exit and decodes its RESULT line into v.
func (p *proc) result(v any, timeout time.Duration) {
	p.t.Helper()
	p.wait(timeout)
	for _, l := range p.lines() {
		if rest, ok := strings.CutPrefix(l, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), v); err != nil {
				p.t.Fatalf("%s: child %s: bad RESULT %q: %v", rule(p.t), p.name, rest, err)
			}
			return
		}
	}
	p.t.Fatalf("%s: child %s printed no RESULT line; stdout %q; stderr:\n%s", rule(p.t), p.name, p.lines(), p.stderr.String())
}

// startTogether starts children that each print READY and wait for "go",
// then releases them all at once.
func startTogether(t testing.TB, ss ...spawn) []*proc {
	t.Helper()
	ps := make([]*proc, len(ss))
	for i, s := range ss {
		ps[i] = start(t, s)
	}
	for _, p := range ps {
		p.expect("READY", 30*time.Second)
	}
	for _, p := range ps {
		p.send("go")
	}
	return ps
}

// unprivileged is the user the permission rules (W1, W2) run as. When the
// suite runs as root, that is uid/gid 65534 (nobody) in a child started with
// dropped credentials, since root ignores permission bits. When the suite
// already runs as an ordinary user, permission bits apply to it and the
// child runs as that user.
type unprivileged struct {
	cred     *syscall.Credential
	uid, gid int
	bin      string
}

func asUnprivileged(t testing.TB) *unprivileged {
	t.Helper()
	if os.Geteuid() != 0 {
		return &unprivileged{uid: os.Geteuid(), gid: os.Getegid(), bin: os.Args[0]}
	}
	u := &unprivileged{
		cred: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
		uid:  65534, gid: 65534,
		bin: sharedBinary(t),
	}
	probeOnce.Do(func() {
		cmd := exec.Command(u.bin, "-test.run=^$")
		cmd.Dir = filepath.Dir(u.bin)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
		probeErr = cmd.Run()
	})
	if errors.Is(probeErr, syscall.EPERM) {
		t.Skipf("cannot start a process as uid 65534 (%v): this root lacks CAP_SETUID/CAP_SETGID (a rootless container?), and root itself ignores permission bits, so the permission rules cannot be shown", probeErr)
	}
	if probeErr != nil {
		t.Fatalf("%s: starting the test binary as uid 65534: %v", rule(t), probeErr)
	}
	return u
}

var (
	probeOnce sync.Once
	probeErr  error
)

// sharedBinary copies the test binary, which lives in a go-build directory
// only its owner may enter, into a world-readable directory.
func sharedBinary(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "resonance-conformance-bin-")
		if sharedErr != nil {
			return
		}
		if sharedErr = os.Chmod(sharedDir, 0o755); sharedErr != nil {
			return
		}
		src, err := os.Open(os.Args[0])
		if err != nil {
			sharedErr = err
			return
		}
		defer src.Close()
		sharedBin = filepath.Join(sharedDir, "conformance.test")
		dst, err := os.OpenFile(sharedBin, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			sharedErr = err
			return
		}
		if _, err := io.Copy(dst, src); err != nil {
			sharedErr = err
		}
		if err := dst.Close(); err != nil && sharedErr == nil {
			sharedErr = err
		}
	})
	if sharedErr != nil {
		t.Fatalf("%s: copying the test binary where an unprivileged user can run it: %v", rule(t), sharedErr)
	}
	return sharedBin
}

// spawn returns a spawn of role running as the unprivileged user.
func (u *unprivileged) spawn(role string, a childArgs) spawn {
	return spawn{role: role, args: a, cred: u.cred, bin: u.bin}
}

// name describes the user for messages.
func (u *unprivileged) name() string {
	if u.cred != nil {
		return fmt.Sprintf("uid %d (nobody, dropped from root)", u.uid)
	}
	return fmt.Sprintf("uid %d (the suite's own unprivileged user)", u.uid)
}

// workDir makes a directory the unprivileged user can reach (the
// directories t.TempDir makes are 0700 and root's), removed when the test
// ends. It starts writable by the parent only.
func (u *unprivileged) workDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "resonance-conformance-")
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	return dir
}

// denyDirWrite makes dir searchable but not writable for the unprivileged user.
func (u *unprivileged) denyDirWrite(t testing.TB, dir string) {
	t.Helper()
	mode := os.FileMode(0o755) // root-owned: others may only read and search
	if u.cred == nil {
		mode = 0o555 // our own directory: take write away from ourselves
	}
	if err := os.Chown(dir, os.Geteuid(), os.Getegid()); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
}

// allowDirWrite gives the unprivileged user write and search on dir.
func (u *unprivileged) allowDirWrite(t testing.TB, dir string) {
	t.Helper()
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
}

// own hands path to the unprivileged user.
func (u *unprivileged) own(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
	}
}
