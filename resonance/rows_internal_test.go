package resonance

import (
	"strings"
	"testing"
)

// The statement texts of the batch writes: the generated statement with
// its VALUES tuple repeated, whatever follows it kept, for 1 to 32 rows.
func TestMultiRow(t *testing.T) {
	m := newMultiRow("INSERT INTO t (a, b)\nVALUES (?, ?)\nON CONFLICT (a) DO NOTHING\n", " RETURNING a")
	want := "INSERT INTO t (a, b)\nVALUES (?, ?), (?, ?), (?, ?), (?, ?)\nON CONFLICT (a) DO NOTHING RETURNING a"
	if got := m.text(4); got != want {
		t.Errorf("4 rows:\n%s\nwant\n%s", got, want)
	}
	for n := 1; n <= maxChunkRows; n *= 2 {
		if got := strings.Count(m.text(n), "(?, ?)"); got != n {
			t.Errorf("the text for %d rows has %d tuples", n, got)
		}
	}
	for n, want := range map[int]int{1: 1, 3: 2, 31: 16, 32: 32, 1000: 32} {
		if got := chunkRows(n); got != want {
			t.Errorf("chunkRows(%d) = %d, want %d", n, got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a statement without VALUES was taken")
		}
	}()
	newMultiRow("SELECT 1", "")
}
