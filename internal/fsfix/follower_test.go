package fsfix

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLitestreamFollower(t *testing.T) {
	for _, c := range []struct {
		name, content string
		want          bool
	}{
		{"AsLitestreamWritesIt", "0000000000000010\n", true},
		{"NoNewline", "00000000000000ff", true},
		{"NotATXID", "hello\n", false},
		{"TooShort", "10\n", false},
		{"Missing", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "follow.db")
			if c.content != "" {
				if err := os.WriteFile(db+"-txid", []byte(c.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, txid, ok := LitestreamFollower(db)
			if ok != c.want || ok && (f != db+"-txid" || txid == "") {
				t.Errorf("LitestreamFollower with -txid %q = %q, %q, %v; want %v", c.content, f, txid, ok, c.want)
			}
		})
	}
}
