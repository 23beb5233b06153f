package resonance_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/resonance-graph/resonancedb/resonance"
)

// recordedVersions reads schema_migrations through a plain connection.
func recordedVersions(t *testing.T, path string) []string {
	t.Helper()
	db, err := resonance.Connect(context.Background(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestOpen_MigrationEndingItsTransactionRefused (M3): a migration that ends
// the transaction it runs in (ROLLBACK, COMMIT or END, anywhere in it, also
// followed by a BEGIN of its own) is refused, naming the file and the
// cause; the database stays at its previous version with nothing of the
// migration applied or recorded. A migration using savepoints inside the
// transaction applies (the control).
func TestOpen_MigrationEndingItsTransactionRefused(t *testing.T) {
	ctx := context.Background()
	for _, end := range []string{"ROLLBACK;", "COMMIT;", "END;", "END TRANSACTION;", "rollback transaction;", "ROLLBACK; BEGIN;", "COMMIT; BEGIN IMMEDIATE;"} {
		for _, where := range []string{"middle", "last"} {
			t.Run(end+" "+where, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "m.db")
				s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{appMigrations}})
				s.Close()
				before := recordedVersions(t, path)
				up := "CREATE TABLE c1(a);\n" + end + "\nCREATE TABLE c2(b);\n"
				if where == "last" {
					up = "CREATE TABLE c1(a);\nCREATE TABLE c2(b);\n" + end + "\n"
				}
				bad := fstest.MapFS{
					"29000101000000_create_notes.sql": appMigrations["29000101000000_create_notes.sql"],
					"29000102000000_ends.sql":         {Data: []byte("-- migrate:up\n" + up + "-- migrate:down\n")},
				}
				_, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{bad}})
				if err == nil || !strings.Contains(err.Error(), "29000102000000_ends.sql") || !strings.Contains(err.Error(), "ends the transaction") {
					t.Fatalf("Open error = %v, want the migration refused for ending its transaction", err)
				}
				if got := recordedVersions(t, path); !slices.Equal(got, before) {
					t.Errorf("recorded versions %q, want %q as before", got, before)
				}
				s = openStoreAt(t, path, resonance.Options{Migrations: []fs.FS{appMigrations}})
				for _, table := range []string{"c1", "c2"} {
					if tableExists(t, s.DB(), table) {
						t.Errorf("table %s of the refused migration exists", table)
					}
				}
			})
		}
	}
	t.Run("savepoints inside", func(t *testing.T) {
		ok := fstest.MapFS{"29000102000000_sp.sql": {Data: []byte("-- migrate:up\nSAVEPOINT a;\nCREATE TABLE c1(a);\nROLLBACK TO a;\nCREATE TABLE c2(b);\nRELEASE a;\n-- migrate:down\n")}}
		s := openStore(t, resonance.Options{Migrations: []fs.FS{ok}})
		if tableExists(t, s.DB(), "c1") || !tableExists(t, s.DB(), "c2") {
			t.Errorf("savepoints in a migration: want c2 only")
		}
	})
}

// TestOpen_MigrationLeavesNothingOnTheWriter: what a migration leaves on
// its connection (a TEMP trigger, an attached database) does not follow the
// store's writes, nor the next migration's: the migration's connection is
// not the one the store writes on afterwards.
func TestOpen_MigrationLeavesNothingOnTheWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	leaves := fstest.MapFS{"29000102000000_leaves.sql": {Data: []byte(fmt.Sprintf(`-- migrate:up
CREATE TEMP TRIGGER eat_history AFTER INSERT ON main.history BEGIN DELETE FROM main.history WHERE id = new.id; END;
ATTACH DATABASE '%s' AS other;
-- migrate:down
`, other))},
		// The next migration does not run with what this one left either.
		"29000103000000_after.sql": {Data: []byte("-- migrate:up\nINSERT INTO history (entity_type, entity_id, action) VALUES ('app', 'after', 'insert');\n-- migrate:down\n")},
	}
	s := openStoreAt(t, filepath.Join(dir, "g.db"), resonance.Options{Create: true, Migrations: []fs.FS{leaves}})
	for i := range 3 {
		if err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
			return tx.UpsertNode(ctx, resonance.Node{ID: fmt.Sprintf("n%d", i), Type: "note"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, s.DB(), "history"); n != 4 {
		t.Errorf("history rows after a migration's insert and three upserts: %d, want 4", n)
	}
	var attached []string
	rows, err := s.DB().Query(`SELECT name FROM pragma_database_list`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		attached = append(attached, name)
	}
	rows.Close()
	if slices.Contains(attached, "other") {
		t.Errorf("the writer has the migration's attachment: %q", attached)
	}
	var temps int
	if err := s.DB().QueryRow(`SELECT count(*) FROM temp.sqlite_master`).Scan(&temps); err != nil || temps != 0 {
		t.Errorf("the writer's temp schema holds %d objects (%v), want none", temps, err)
	}
	if h, err := s.Health(ctx); err != nil || len(h.Problems) > 0 {
		t.Errorf("Health = %+v, %v", h, err)
	}
}

// TestOpen_BackupsOnlyIntoTheOwnersDirectory (M6): the pre-migration
// backup goes only into a directory owned by the database's owner or root,
// never through a symbolic link another user owns, nor into a directory
// another user owns or anyone may write without the sticky bit. Otherwise
// the migration is refused with the reason, nothing is written there and
// nothing is migrated. Root owns the database here (the test chowns the
// other user's files, so it needs root); a link and a directory of root's
// are the control.
func TestOpen_BackupsOnlyIntoTheOwnersDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	const other = 65534
	ctx := context.Background()
	v1 := fstest.MapFS{"29000101000001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\n")}}
	v2 := fstest.MapFS{
		"29000101000001_a.sql": v1["29000101000001_a.sql"],
		"29000101000002_b.sql": {Data: []byte("-- migrate:up\nCREATE TABLE b (x);\n-- migrate:down\n")},
	}
	for _, tt := range []struct {
		name   string
		setup  func(t *testing.T, dir, target string) // makes dir/backups
		refuse string                                 // "" for the control
	}{
		{"another user's link", func(t *testing.T, dir, target string) {
			chown(t, target, other, false)
			symlink(t, target, filepath.Join(dir, "backups"), other)
		}, "symbolic link owned by uid 65534"},
		{"root's link to another user's directory", func(t *testing.T, dir, target string) {
			chown(t, target, other, false)
			symlink(t, target, filepath.Join(dir, "backups"), 0)
		}, "owned by uid 65534"},
		{"another user's directory", func(t *testing.T, dir, target string) {
			if err := os.Mkdir(filepath.Join(dir, "backups"), 0o755); err != nil {
				t.Fatal(err)
			}
			chown(t, filepath.Join(dir, "backups"), other, false)
		}, "owned by uid 65534"},
		{"world-writable directory without the sticky bit", func(t *testing.T, dir, target string) {
			if err := os.Chmod(target, 0o777); err != nil {
				t.Fatal(err)
			}
			symlink(t, target, filepath.Join(dir, "backups"), 0)
		}, "writable by every user"},
		{"control: root's link to root's directory", func(t *testing.T, dir, target string) {
			symlink(t, target, filepath.Join(dir, "backups"), 0)
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o1777); err != nil { // a shared sticky directory
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "theirs")
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "g.db")
			s := openStoreAt(t, path, resonance.Options{Create: true, Migrations: []fs.FS{v1}})
			if _, err := s.DB().Exec(`INSERT INTO a VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			s.Close()
			tt.setup(t, dir, target)
			s2, err := resonance.Open(ctx, path, resonance.Options{Migrations: []fs.FS{v2}})
			entries, _ := os.ReadDir(target)
			if tt.refuse == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s2.Close()
				if len(entries) != 1 {
					t.Errorf("the owner's backup directory holds %d files, want the backup", len(entries))
				}
				return
			}
			if err == nil {
				s2.Close()
				t.Fatalf("Open migrated with backups/ = %s", tt.name)
			}
			if !strings.Contains(err.Error(), tt.refuse) || !strings.Contains(err.Error(), "nothing was migrated") {
				t.Errorf("Open error = %v, want the reason %q and that nothing was migrated", err, tt.refuse)
			}
			if len(entries) != 0 {
				t.Errorf("files written into %s: %v", tt.name, entries)
			}
			if got := recordedVersions(t, path); slices.Contains(got, "29000101000002") {
				t.Errorf("the migration was applied: %q", got)
			}
		})
	}
}

func chown(t *testing.T, path string, uid int, link bool) {
	t.Helper()
	f := os.Chown
	if link {
		f = os.Lchown
	}
	if err := f(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string, uid int) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	chown(t, link, uid, true)
}

// TestStore_HealthSeesWhatTheWriterCarries (C9): a TEMP trigger or an
// attached database on the store's writer (made through Store.DB) runs
// with, or reaches, every later write: Health names it as a problem.
func TestStore_HealthSeesWhatTheWriterCarries(t *testing.T) {
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE TEMP TRIGGER eat_history AFTER INSERT ON main.history BEGIN DELETE FROM main.history WHERE id = new.id; END",
		"ATTACH DATABASE ':memory:' AS other",
	} {
		s := openStore(t, resonance.Options{})
		if h, err := s.Health(ctx); err != nil || len(h.Problems) > 0 {
			t.Fatalf("Health before = %+v, %v", h, err)
		}
		if _, err := s.DB().Exec(stmt); err != nil {
			t.Fatal(err)
		}
		h, err := s.Health(ctx)
		if err == nil || len(h.Problems) == 0 || !strings.Contains(strings.Join(h.Problems, ";"), "writer connection carries") {
			t.Errorf("Health after %q = %+v, %v; want unhealthy naming it", stmt, h, err)
		}
	}
}
