package resonance_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// manyMigrations returns n application migrations, each creating one table.
func manyMigrations(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range n {
		fsys[fmt.Sprintf("3%013d_t%d.sql", i, i)] = &fstest.MapFile{
			Data: fmt.Appendf(nil, "-- migrate:up\nCREATE TABLE app_%d (a);\n-- migrate:down\nDROP TABLE app_%d;\n", i, i)}
	}
	return fsys
}

// migrationCounts are the sizes both benchmarks below run: the time per
// migration of the store, set against the baseline's at the same n, shows
// whether the store adds a cost that grows with n (reading every applied
// version for each migration did).
var migrationCounts = []int{500, 2000, 4000}

// BenchmarkOpen_ApplicationMigrations opens a fresh database with n
// application migrations and reports the time per migration.
func BenchmarkOpen_ApplicationMigrations(b *testing.B) {
	for _, n := range migrationCounts {
		fsys := manyMigrations(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				path := filepath.Join(b.TempDir(), "g.db")
				b.StartTimer()
				start := time.Now()
				s, err := resonance.Open(b.Context(), path, resonance.Options{Create: true, Migrations: []fs.FS{fsys}})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/migration")
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkBaseline_ApplyMigrations is the floor under
// BenchmarkOpen_ApplicationMigrations: the same statements, each migration
// in its own BEGIN IMMEDIATE transaction with its version recorded, on one
// plain go-sqlite3 connection. SQLite's own cost per migration grows with
// the size of the schema.
func BenchmarkBaseline_ApplyMigrations(b *testing.B) {
	for _, n := range migrationCounts {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				d := baselineDB(b, filepath.Join(b.TempDir(), "g.db"))
				b.StartTimer()
				start := time.Now()
				if _, err := d.Exec(`CREATE TABLE "schema_migrations" (version varchar(128) primary key)`); err != nil {
					b.Fatal(err)
				}
				for i := range n {
					tx, err := d.Begin()
					if err != nil {
						b.Fatal(err)
					}
					if _, err := tx.Exec(fmt.Sprintf("CREATE TABLE app_%d (a);", i)); err != nil {
						b.Fatal(err)
					}
					if _, err := tx.Exec(`INSERT INTO "schema_migrations" (version) VALUES (?)`, fmt.Sprintf("3%013d", i)); err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/migration")
				b.StopTimer()
				d.Close()
				b.StartTimer()
			}
		})
	}
}
