package fsfix

import (
	"io/fs"
	"os"
	"testing"
)

type namedFS struct {
	fs.FS
	name string
}

func (n namedFS) String() string { return n.name }

func TestCommand(t *testing.T) {
	for _, tt := range []struct {
		migrations []fs.FS
		external   bool
		want       string
	}{
		{nil, false, "resonance migrate up --db '/d/my g.db'"},
		{[]fs.FS{namedFS{os.DirFS("/m"), "/m"}, namedFS{nil, "/a b"}}, true, "resonance migrate up --db '/d/my g.db' --migrations /m --migrations '/a b' --external-checkpoints"},
		{[]fs.FS{os.DirFS("/m")}, false, "resonance migrate up --db '/d/my g.db' --migrations DIR"},
	} {
		if got := Command("migrate up", "/d/my g.db", tt.migrations, tt.external); got != tt.want {
			t.Errorf("Command = %q, want %q", got, tt.want)
		}
	}
}
