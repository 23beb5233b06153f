package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/resonance"
)

// --external-checkpoints and RESONANCE_EXTERNAL_CHECKPOINTS=1 make
// `checkpoint` refuse, naming the flag (R1).
func TestExternalCheckpoints_CheckpointRefuses(t *testing.T) {
	db := newDB(t)
	r := mustCLI(t, 2, "", "--db", db, "--external-checkpoints", "checkpoint")
	if !strings.Contains(r.stderr, "--external-checkpoints") {
		t.Errorf("checkpoint under --external-checkpoints: stderr %q does not name the flag", r.stderr)
	}
	t.Setenv(envExternal, "1")
	r = mustCLI(t, 2, "", "--db", db, "checkpoint")
	if !strings.Contains(r.stderr, "--external-checkpoints") || !strings.Contains(r.stderr, envExternal) {
		t.Errorf("checkpoint under $%s=1: stderr %q does not name the flag and the variable", envExternal, r.stderr)
	}
	t.Setenv(envExternal, "maybe")
	mustCLI(t, 2, "", "--db", db, "stats")
	t.Setenv(envExternal, "0")
	mustCLI(t, 0, "", "--db", db, "checkpoint")
}

// Every command opens the database through openStore: under the flag every
// store, read-only ones too, runs with ExternalCheckpoints, and closing the
// last one leaves the -wal file in place for the replicator (R1).
func TestExternalCheckpoints_ReadWriteStoresHonourIt(t *testing.T) {
	db := newDB(t)
	for _, ro := range []bool{false, true} {
		e := &env{ctx: context.Background(), dbPath: db, external: true}
		s, err := openStore(e, resonance.Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		// Every connection of a store with ExternalCheckpoints, readers too,
		// runs with wal_autocheckpoint 0; SQLite's default is 1000.
		var auto int
		if err := s.ReadDB().QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
			t.Errorf("a store (ReadOnly %v) under --external-checkpoints: a reader runs wal_autocheckpoint = %d (%v), want 0", ro, auto, err)
		}
		if err := s.DB().QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
			t.Errorf("a store (ReadOnly %v) under --external-checkpoints: the writer runs wal_autocheckpoint = %d (%v), want 0", ro, auto, err)
		}
		s.Close()
		if _, err := os.Stat(db + "-wal"); err != nil {
			t.Errorf("after the last store (ReadOnly %v) under --external-checkpoints closed, -wal is gone (%v): the replicator's WAL was reset", ro, err)
		}
	}
}

// doctor recognises a database Litestream replicates by its tables and
// says whether the run uses external checkpoints (R1).
func TestDoctor_RecognisesLitestream(t *testing.T) {
	db := newDB(t)
	r := cli(t, "", "--db", db, "doctor")
	if !strings.Contains(r.stdout, "not replicated by Litestream") {
		t.Errorf("doctor on a plain database:\n%s\nwant it to say it is not replicated", r.stdout)
	}
	plain, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	// What Litestream creates in the file it replicates.
	if _, err := plain.Exec(`CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER); CREATE TABLE _litestream_lock (id INTEGER);`); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	r = cli(t, "", "--db", db, "doctor")
	if !strings.Contains(r.stdout, "replicated by Litestream (tables _litestream_lock, _litestream_seq)") || !strings.Contains(r.stdout, "--external-checkpoints") {
		t.Errorf("doctor on a replicated database without the flag:\n%s\nwant it to name Litestream's tables and the flag", r.stdout)
	}
	r = cli(t, "", "--db", db, "--external-checkpoints", "doctor", "--wal-warn", "1")
	if !strings.Contains(r.stdout, "this run uses external checkpoints") {
		t.Errorf("doctor --external-checkpoints on a replicated database:\n%s\nwant it to say the run uses external checkpoints", r.stdout)
	}
}

// TestFollower_WritesRefusedDoctorSays: on a file that `litestream
// restore -f` keeps (the -txid file beside it, and here a process named
// litestream holding it open, as the follower does), import is refused,
// nothing is written, and doctor says whose follower it is.
func TestFollower_WritesRefusedDoctorSays(t *testing.T) {
	db := newDB(t)
	if err := os.WriteFile(db+"-txid", []byte("0000000000000010\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, db)
	r := mustCLI(t, 1, `{"kind":"node","id":"n1","type":"note","title":"T","domain":"knowledge","layer":"experience"}`+"\n", "--db", db, "import", "-")
	if !strings.Contains(r.stderr, "Litestream follower") || !strings.Contains(r.stderr, "litestream restore -f") {
		t.Errorf("import into a follower: %s", r.stderr)
	}
	if !bytes.Equal(fileBytes(t, db), before) {
		t.Error("the refused import changed the follower")
	}
	d := mustCLI(t, 0, "", "--db", db, "doctor")
	if !hasLine(d.stdout, "WARN", "follower of a Litestream replica") || !strings.Contains(d.stdout, "0000000000000010") {
		t.Errorf("doctor on a follower:\n%s", d.stdout)
	}

	// A process named litestream that holds the file open.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	fake := filepath.Join(t.TempDir(), "litestream")
	if err := os.WriteFile(fake, fileBytes(t, sh), 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(fake, "-c", `exec 3<"$1"; echo ready; read x`, "restore-f", db)
	in, _ := holder.StdinPipe()
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); holder.Wait() }()
	if _, err := out.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	d = mustCLI(t, 0, "", "--db", db, "doctor")
	if !hasLine(d.stdout, "WARN", "follower of a Litestream replica") || !strings.Contains(d.stdout, fmt.Sprintf("(pid %d)", holder.Process.Pid)) || !strings.Contains(d.stdout, "restore-f") {
		t.Errorf("doctor on a follower that a litestream process holds:\n%s", d.stdout)
	}
}
