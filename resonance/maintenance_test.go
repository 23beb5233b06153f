package resonance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// fillGraph writes n nodes with 384-float embeddings in one transaction.
func fillGraph(t testing.TB, s *resonance.Store, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		for i := range n {
			id := fmt.Sprintf("%s-%06d", prefix, i)
			err := tx.UpsertNode(ctx, resonance.Node{ID: id, Type: "doc", Title: id,
				Embedding: graphEmbedding(384, uint64(i+1)), Meta: json.RawMessage(`{"i":1}`)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pragmaInt(t testing.TB, s *resonance.Store, name string) int64 {
	t.Helper()
	var v int64
	if err := s.DB().QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestStore_Maintenance(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	fillGraph(t, s, "m", 300)
	// The second half of the rows, not every other one: that empties whole
	// pages of nodes, while every other row would leave each page half full
	// and free only the couple of pages that the triggers' node_changes rows
	// (written in the same transaction) take back.
	if _, err := s.DB().Exec(`DELETE FROM nodes WHERE rowid > (SELECT max(rowid) FROM nodes) / 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if free := pragmaInt(t, s, "freelist_count"); free == 0 {
		t.Fatal("freelist is empty after deleting half the nodes")
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Fatalf("Vacuum: %v", err)
	}
	if free := pragmaInt(t, s, "freelist_count"); free != 0 {
		t.Errorf("freelist_count after Vacuum = %d, want 0", free)
	}
	if err := s.Analyze(ctx); err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if n := countRows(t, s.DB(), "sqlite_stat1"); n == 0 {
		t.Error("Analyze wrote no statistics")
	}
	if err := s.Optimize(ctx); err != nil {
		t.Fatalf("Optimize: %v", err)
	}
	problems, err := s.IntegrityCheck(ctx)
	if err != nil || problems == nil || len(problems) != 0 {
		t.Errorf("IntegrityCheck = %#v, %v; want an empty slice", problems, err)
	}
	if n := countRows(t, s.DB(), "nodes"); n != 150 {
		t.Errorf("nodes after maintenance = %d, want 150", n)
	}

	t.Run("InsideTxIsRefused", func(t *testing.T) {
		err := s.Tx(ctx, func(ctx context.Context, _ *resonance.Tx) error { return s.Vacuum(ctx) })
		if !errors.Is(err, resonance.ErrNestedTx) {
			t.Errorf("Vacuum inside Tx = %v, want ErrNestedTx", err)
		}
		err = s.Tx(ctx, func(ctx context.Context, _ *resonance.Tx) error { _, err := s.Health(ctx); return err })
		if !errors.Is(err, resonance.ErrNestedTx) {
			t.Errorf("Health inside Tx = %v, want ErrNestedTx", err)
		}
	})
	t.Run("ReadOnlyStore", func(t *testing.T) {
		ro := openStoreAt(t, s.Path(), resonance.Options{ReadOnly: true})
		for name, op := range map[string]func(context.Context) error{"Vacuum": ro.Vacuum, "Analyze": ro.Analyze} {
			if err := op(ctx); !errors.Is(err, resonance.ErrReadOnly) {
				t.Errorf("%s on a read-only store = %v, want ErrReadOnly", name, err)
			}
		}
		if problems, err := ro.IntegrityCheck(ctx); err != nil || len(problems) != 0 {
			t.Errorf("IntegrityCheck on a read-only store = %v, %v", problems, err)
		}
	})
}

func TestStore_IntegrityCheckReportsProblems(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) *resonance.Store {
		s := openStore(t, resonance.Options{})
		if _, err := s.DB().Exec(`CREATE TABLE t (x TEXT);
			CREATE INDEX t_x ON t (x);
			WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
			INSERT INTO t SELECT printf('value-%06d', i) FROM c;`); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("IndexOutOfOrder", func(t *testing.T) {
		s := setup(t)
		// Declare the index descending behind SQLite's back: its entries are
		// now out of order and missing for every row.
		_, err := s.DB().Exec(`PRAGMA writable_schema = ON;
			UPDATE sqlite_schema SET sql = 'CREATE INDEX t_x ON t (x DESC)' WHERE name = 't_x';
			PRAGMA writable_schema = OFF;`)
		if err != nil {
			t.Fatal(err)
		}
		v := pragmaInt(t, s, "schema_version")
		if _, err := s.DB().Exec(fmt.Sprintf("PRAGMA writable_schema = ON; PRAGMA schema_version = %d; PRAGMA writable_schema = OFF", v+1)); err != nil {
			t.Fatal(err)
		}
		problems, err := s.IntegrityCheck(ctx)
		if err != nil {
			t.Fatalf("IntegrityCheck: %v", err)
		}
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), "t_x") {
			t.Fatalf("IntegrityCheck = %q, want problems naming index t_x", problems)
		}
	})
	t.Run("MalformedPage", func(t *testing.T) {
		s := setup(t)
		var root int64
		if err := s.DB().QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 't_x'`).Scan(&root); err != nil {
			t.Fatal(err)
		}
		size := pragmaInt(t, s, "page_size")
		if cp, err := s.Checkpoint(ctx); err != nil || cp.Busy {
			t.Fatalf("checkpoint: %+v, %v", cp, err)
		}
		// Scribble over the index's root page behind SQLite's back. The
		// reader connections have not cached it.
		f, err := os.OpenFile(s.Path(), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		junk := []byte(strings.Repeat("\xff\x00\x13", int(size)/3))
		if _, err := f.WriteAt(junk[:size-100], (root-1)*size+100); err != nil {
			t.Fatal(err)
		}
		f.Close()
		problems, err := s.IntegrityCheck(ctx)
		if err != nil {
			t.Fatalf("IntegrityCheck: %v", err)
		}
		if len(problems) == 0 || !strings.Contains(problems[len(problems)-1], "malformed") {
			t.Fatalf("IntegrityCheck = %q, want the malformed image reported as a problem", problems)
		}
	})
}

func TestStore_IncrementalVacuum(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, resonance.Options{})
	err := s.IncrementalVacuum(ctx, 10)
	if !errors.Is(err, resonance.ErrInvalid) || !strings.Contains(err.Error(), "PRAGMA auto_vacuum = INCREMENTAL") {
		t.Fatalf("IncrementalVacuum without auto_vacuum = %v, want ErrInvalid explaining how to enable it", err)
	}
	if err := s.IncrementalVacuum(ctx, -1); !errors.Is(err, resonance.ErrInvalid) {
		t.Errorf("IncrementalVacuum(-1) = %v, want ErrInvalid", err)
	}
	// Enable it as the error says.
	if _, err := s.DB().Exec(`PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		t.Fatal(err)
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pragmaInt(t, s, "auto_vacuum"); got != 2 {
		t.Fatalf("auto_vacuum = %d after enabling, want 2", got)
	}
	fillGraph(t, s, "iv", 400)
	if _, err := s.DB().Exec(`DELETE FROM nodes`); err != nil {
		t.Fatal(err)
	}
	free := pragmaInt(t, s, "freelist_count")
	if free < 20 {
		t.Fatalf("freelist_count = %d, want many free pages", free)
	}
	if err := s.IncrementalVacuum(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := pragmaInt(t, s, "freelist_count"); got != free-10 {
		t.Errorf("freelist_count after IncrementalVacuum(10) = %d, want %d", got, free-10)
	}
	if err := s.IncrementalVacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := pragmaInt(t, s, "freelist_count"); got != 0 {
		t.Errorf("freelist_count after IncrementalVacuum(0) = %d, want 0", got)
	}
}
