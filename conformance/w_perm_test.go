package conformance_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/conformance"
	"github.com/resonance-graph/resonancedb/resonance"
)

// TestW1_WALIsThreeFiles checks that an open WAL database is three files,
// and that closing the last connection leaves only the database.
func TestW1_WALIsThreeFiles(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	if err := s.Read(ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("W1: while the database is open, %s: %v", filepath.Base(p), err)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if got := listDir(path); !slices.Equal(got, []string{"graph.db"}) {
		t.Errorf("W1: after the last connection closed the directory holds %q, want only graph.db", got)
	}
}

type permsResult struct {
	UID      int                   `json:"uid"`
	Findings []conformance.Finding `json:"findings"`
}

// findingFor returns the finding about path, if any.
func findingFor(fs []conformance.Finding, path string) (conformance.Finding, bool) {
	i := slices.IndexFunc(fs, func(f conformance.Finding) bool { return f.Path == path })
	if i < 0 {
		return conformance.Finding{}, false
	}
	return fs[i], true
}

// TestW1_UnprivilegedUserNeedsDirectoryAndShm runs as an unprivileged user
// (uid 65534 dropped from root, since root ignores permission bits) and
// checks what W1 says a process needs, and that CheckPermissions — what
// `resonance doctor` reports — names the file or directory that is wrong
// and the fix.
func TestW1_UnprivilegedUserNeedsDirectoryAndShm(t *testing.T) {
	u := asUnprivileged(t)

	t.Run("WritableDirectory", func(t *testing.T) {
		dir := u.workDir(t)
		path := filepath.Join(dir, "graph.db")
		createDB(t, path)
		u.own(t, path)
		u.allowDirWrite(t, dir)
		var perms permsResult
		start(t, u.spawn("check-perms", childArgs{DB: path})).result(&perms, 60*time.Second)
		if len(perms.Findings) != 0 {
			t.Errorf("W1: CheckPermissions as %s in a directory it owns found %v, want nothing", u.name(), perms.Findings)
		}
		var w tryResult
		start(t, u.spawn("try-write", childArgs{DB: path})).result(&w, 60*time.Second)
		if w.Err != "" {
			t.Fatalf("W1: %s with write on the directory and the file could not write: %s", u.name(), w.Err)
		}
		if !slices.Contains(w.Files, "graph.db-wal") || !slices.Contains(w.Files, "graph.db-shm") {
			t.Errorf("W1: while %s had the database open the directory held %q, want graph.db, -wal and -shm", u.name(), w.Files)
		}
		if !slices.Equal(w.After, []string{"graph.db"}) {
			t.Errorf("W1: after %s closed the database the directory held %q, want the -wal and -shm it created removed", u.name(), w.After)
		}
	})

	t.Run("DirectoryNotWritable", func(t *testing.T) {
		dir := u.workDir(t)
		path := filepath.Join(dir, "graph.db")
		createDB(t, path)
		u.own(t, path)
		u.denyDirWrite(t, dir)
		var perms permsResult
		start(t, u.spawn("check-perms", childArgs{DB: path})).result(&perms, 60*time.Second)
		f, ok := findingFor(perms.Findings, dir)
		switch {
		case !ok:
			t.Errorf("W1: CheckPermissions as %s with a directory it cannot write found %v, want a finding naming %s", u.name(), perms.Findings, dir)
		case !strings.Contains(f.Problem, "not writable") || !strings.Contains(f.Problem, "-shm") || !strings.Contains(f.Fix, dir):
			t.Errorf("W1: the directory finding %q does not say what is wrong and how to fix it", f)
		}
		if len(perms.Findings) != 1 {
			t.Errorf("W1: CheckPermissions found %d problems, want only the directory: %v", len(perms.Findings), perms.Findings)
		}
		var w tryResult
		start(t, u.spawn("try-write", childArgs{DB: path})).result(&w, 60*time.Second)
		if w.Err == "" {
			t.Fatalf("W1: %s opened a WAL database in a directory it cannot write, with no other process holding it", u.name())
		}
		if !w.ReadOnly || !strings.Contains(w.Err, dir) || !strings.Contains(w.Err, "chmod") {
			t.Errorf("W1: the open error as %s = %q, want one wrapping ErrReadOnly that names %s and the chmod fix", u.name(), w.Err, dir)
		}
	})

	t.Run("ShmNotWritable", func(t *testing.T) {
		dir := u.workDir(t)
		path := filepath.Join(dir, "graph.db")
		createDB(t, path)
		s := openStore(t, path, resonance.Options{}) // keeps -wal and -shm alive, owned by us
		if err := s.Read(context.Background(), func(context.Context, *resonance.ReadTx) error { return nil }); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		if u.cred == nil {
			os.Chmod(path+"-shm", 0o444) // we are the unprivileged user: take write away
		}
		u.allowDirWrite(t, dir)
		var perms permsResult
		start(t, u.spawn("check-perms", childArgs{DB: path})).result(&perms, 60*time.Second)
		f, ok := findingFor(perms.Findings, path+"-shm")
		if !ok {
			t.Fatalf("W1: CheckPermissions as %s with a -shm it cannot write found %v, want a finding naming %s-shm", u.name(), perms.Findings, path)
		}
		if !strings.Contains(f.Problem, "write") || f.Fix == "" {
			t.Errorf("W1: the -shm finding %q does not say what is wrong and how to fix it", f)
		}
		var r map[string]tryResult
		start(t, u.spawn("try-read", childArgs{DB: path})).result(&r, 60*time.Second)
		t.Logf("reading with a -shm it cannot write, as %s: %+v", u.name(), r)
		os.Chmod(path+"-shm", 0o644)
		s.Close()
	})

	t.Run("WorldWritableFlagged", func(t *testing.T) {
		path := newDB(t)
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatalf("%s: %v", rule(t), err)
		}
		f, ok := findingFor(conformance.CheckPermissions(path), path)
		if !ok || !strings.Contains(f.Problem, "world-writable") || !strings.Contains(f.Fix, "chmod o-w") {
			t.Errorf("W1: a world-writable database: finding %+v, want one naming it with chmod o-w", f)
		}
	})
}

// TestW2_ReadonlyTrap reproduces the readonly trap as an unprivileged user
// that cannot write the database's directory: (a) while another process
// holds the WAL database open, -shm exists and the user can read; (b) once
// that process closed it and -wal/-shm are gone, the user cannot open it,
// and the connector's error explains the cause and the fix.
func TestW2_ReadonlyTrap(t *testing.T) {
	ctx := context.Background()
	u := asUnprivileged(t)
	dir := u.workDir(t)
	path := filepath.Join(dir, "graph.db")
	createDB(t, path)
	s, err := resonance.Open(ctx, path, resonance.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	defer s.Close()
	if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type) VALUES ('a', 'doc'), ('b', 'doc')`)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	// The database and the -wal and -shm SQLite creates for it (with the
	// database's owner) belong to the user: only the directory is in the way.
	u.own(t, path, path+"-wal", path+"-shm")
	u.denyDirWrite(t, dir)

	var held map[string]tryResult
	start(t, u.spawn("try-read", childArgs{DB: path})).result(&held, 60*time.Second)
	for _, way := range []string{"connector", "mode=rw", "mode=ro"} {
		r := held[way]
		if r.Err != "" || r.Count != 2 {
			t.Errorf("W2 (a): while another process held the database open, %s could not read it through %s: count %d, err %q", u.name(), way, r.Count, r.Err)
		}
	}

	if u.cred == nil {
		u.allowDirWrite(t, dir) // we are the same user: let our close remove -wal and -shm
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	if got := listDir(path); !slices.Equal(got, []string{"graph.db"}) {
		t.Fatalf("W2 test setup: after the holder closed, the directory holds %q, want only graph.db", got)
	}
	u.denyDirWrite(t, dir)
	var gone map[string]tryResult
	start(t, u.spawn("try-read", childArgs{DB: path})).result(&gone, 60*time.Second)
	for _, way := range []string{"mode=rw", "mode=ro"} {
		if r := gone[way]; r.Err == "" {
			t.Errorf("W2 (b): once no process held it, %s still read the database through %s: the trap did not reproduce", u.name(), way)
		} else {
			t.Logf("(b) plain %s as %s: %s", way, u.name(), r.Err)
		}
	}
	r := gone["connector"]
	switch {
	case r.Err == "":
		t.Errorf("W2 (b): the connector opened the database as %s with no -shm and a directory it cannot write", u.name())
	case !r.ReadOnly || !strings.Contains(r.Err, dir) || !strings.Contains(r.Err, "chmod") || !strings.Contains(r.Err, "-shm"):
		t.Errorf("W2 (b): the connector's error = %q, want one wrapping ErrReadOnly that names the directory %s, -shm and the chmod fix", r.Err, dir)
	default:
		t.Logf("(b) connector as %s: %s", u.name(), r.Err)
	}
	if got := listDir(path); !slices.Equal(got, []string{"graph.db"}) {
		t.Errorf("W2: the failed opens left %q behind", got)
	}
}

// TestW2_ModeRoReaderDoesNotCorrupt tests the seed's folklore that a
// read-only (mode=ro) connection corrupts a WAL database: a plain mode=ro
// reader in another process reads while this process commits and
// checkpoints. It records what really happens; the database must pass
// integrity_check and hold every commit.
func TestW2_ModeRoReaderDoesNotCorrupt(t *testing.T) {
	ctx := context.Background()
	path := newDB(t)
	s := openStore(t, path, resonance.Options{})
	reader := startTogether(t, spawn{role: "ro-reader", args: childArgs{DB: path, Duration: 1500 * time.Millisecond}})[0]
	commits, checkpoints := 0, 0
	for done := false; !done; {
		select {
		case <-reader.exited:
			done = true
		default:
		}
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, type, title) VALUES (?, 'doc', 'written while a mode=ro reader reads')`, commits)
			return err
		}); err != nil {
			t.Fatalf("W2: commit %d beside a mode=ro reader: %v", commits, err)
		}
		commits++
		if commits%50 == 0 {
			if _, err := s.Checkpoint(ctx); err != nil {
				t.Fatalf("W2: checkpoint beside a mode=ro reader: %v", err)
			}
			checkpoints++
		}
	}
	var r roReaderResult
	reader.result(&r, 30*time.Second)
	if err := s.Close(); err != nil {
		t.Fatalf("%s: %v", rule(t), err)
	}
	got := integrity(t, path)
	if got != "ok" {
		t.Errorf("W2: integrity_check after a mode=ro reader = %q, want ok", got)
	}
	db := plainDB(t, path, "")
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != commits {
		t.Errorf("W2: %d rows after %d commits beside a mode=ro reader", n, commits)
	}
	if r.Reads == 0 {
		t.Errorf("W2: the mode=ro reader made no read: errors %v", r.Errors)
	}
	t.Logf("folklore tested: a mode=ro connection in another process made %d reads (errors: %v) while %d transactions committed and %d checkpoints ran; integrity_check: %s",
		r.Reads, r.Errors, commits, checkpoints, got)
}
