package resonance

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestLibrarySchema_IsWhatTheMigrationsCreate: Health's list of the
// library's tables, columns, indexes and triggers is exactly what the embedded
// migrations create, so a new migration cannot leave it behind.
func TestLibrarySchema_IsWhatTheMigrationsCreate(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	strings := func(query string, args ...any) []string {
		rows, err := s.ReadDB().QueryContext(t.Context(), query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	tables := strings(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND name NOT IN ('schema_migrations', '_health') ORDER BY name`)
	var want []string
	for _, lt := range librarySchema {
		want = append(want, lt.table)
		cols := strings(`SELECT name FROM pragma_table_xinfo(?) ORDER BY name`, lt.table)
		if w := slices.Sorted(slices.Values(lt.columns)); !slices.Equal(cols, w) {
			t.Errorf("librarySchema: %s has columns %v, the migrations create %v", lt.table, w, cols)
		}
	}
	if slices.Sort(want); !slices.Equal(tables, want) {
		t.Errorf("librarySchema lists tables %v, the migrations create %v", want, tables)
	}
	var objects []string
	for _, o := range libraryObjects {
		objects = append(objects, o.kind+" "+o.name)
	}
	if got := strings(`SELECT type || ' ' || name FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`); !slices.Equal(got, objects) {
		t.Errorf("libraryObjects is %v, the migrations create %v", objects, got)
	}
}
