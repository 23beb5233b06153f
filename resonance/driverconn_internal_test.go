package resonance

import "testing"

func TestHasPragma(t *testing.T) {
	for q, want := range map[string]bool{
		"PRAGMA busy_timeout = 0":                  true,
		"pragma query_only=off":                    true,
		"SELECT 1; PrAgMa journal_mode = DELETE":   true,
		"SELECT * FROM pragma_table_info('nodes')": true, // conservative: checked again, never missed
		"ppragma":                                    true,
		"SELECT 'pragm', 'prag ma', upper('p')":      false,
		"INSERT INTO nodes (id, type) VALUES (?, ?)": false,
		"PRAGM": false,
		"":      false,
	} {
		if got := hasPragma(q); got != want {
			t.Errorf("hasPragma(%q) = %v, want %v", q, got, want)
		}
	}
}
