package main

import (
	"context"
	"database/sql"
	"os"
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
