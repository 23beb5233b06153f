package resonance_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// benchDB creates a migrated database and keeps a store open on it for the
// whole benchmark, so per-request connections never pay for the first open
// or the last close (P4's "another connection open").
func benchDB(b *testing.B) (string, *resonance.Store) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := resonance.Open(context.Background(), path, resonance.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return path, s
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process CPU time per operation since start, as
// cpu-ns/op: on a machine shared with other work it varies much less than
// the wall time (ns/op), and it counts the goroutines database/sql starts.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkConnect is P4: open a hardened connection, run one count query,
// close it, while another connection keeps the database open.
func BenchmarkConnect(b *testing.B) {
	path, _ := benchDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		db, err := resonance.Connect(ctx, path, resonance.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM nodes").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectBaseline is P4 with plain database/sql and go-sqlite3 DSN
// parameters, for comparison.
func BenchmarkConnectBaseline(b *testing.B) {
	path, _ := benchDB(b)
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000"
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		db, err := sql.Open("sqlite3", dsn)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM nodes").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreCount is P4pool: the same query through a long-lived
// store's reader pool.
func BenchmarkStoreCount(b *testing.B) {
	_, s := benchDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		var n int64
		if err := s.ReadDB().QueryRowContext(ctx, "SELECT count(*) FROM nodes").Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreTxEmpty measures Store.Tx around a function that does nothing.
func BenchmarkStoreTxEmpty(b *testing.B) {
	_, s := benchDB(b)
	ctx := context.Background()
	fn := func(context.Context, *resonance.Tx) error { return nil }
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if err := s.Tx(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreReadEmpty measures Store.Read around a function that does nothing.
func BenchmarkStoreReadEmpty(b *testing.B) {
	_, s := benchDB(b)
	ctx := context.Background()
	fn := func(context.Context, *resonance.ReadTx) error { return nil }
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if err := s.Read(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxMechanism compares the two ways a write transaction can run
// on the store's writer: a database/sql Tx (BeginTx, the DSN's _txlock
// making it IMMEDIATE) and the connection's own BEGIN IMMEDIATE and
// COMMIT. Each transaction runs one insert and one single-row query, as
// a graph write with its read-back does.
func BenchmarkTxMechanism(b *testing.B) {
	_, s := benchDB(b)
	ctx, cancel := context.WithCancel(context.Background()) // a request's context can be cancelled
	defer cancel()
	if _, err := s.DB().ExecContext(ctx, "CREATE TABLE bench_tx (v INTEGER)"); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, tx func(*sql.Conn, int) error) {
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		i := 0
		for b.Loop() {
			conn, err := s.DB().Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := tx(conn, i); err != nil {
				b.Fatal(err)
			}
			if err := conn.Close(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("sqlTx", func(b *testing.B) {
		run(b, func(conn *sql.Conn, i int) error {
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO bench_tx (v) VALUES (?)", i); err != nil {
				tx.Rollback()
				return err
			}
			var n int64
			if err := tx.QueryRowContext(ctx, "SELECT v FROM bench_tx WHERE rowid = last_insert_rowid()").Scan(&n); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		})
	})
	b.Run("BEGIN", func(b *testing.B) {
		run(b, func(conn *sql.Conn, i int) error {
			if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, "INSERT INTO bench_tx (v) VALUES (?)", i); err != nil {
				conn.ExecContext(context.Background(), "ROLLBACK")
				return err
			}
			var n int64
			if err := conn.QueryRowContext(ctx, "SELECT v FROM bench_tx WHERE rowid = last_insert_rowid()").Scan(&n); err != nil {
				conn.ExecContext(context.Background(), "ROLLBACK")
				return err
			}
			_, err := conn.ExecContext(context.Background(), "COMMIT")
			return err
		})
	})
}
