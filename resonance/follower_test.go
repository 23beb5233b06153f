package resonance_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/resonance-graph/resonancedb/resonance"
)

// TestOpen_RefusesWritesToALitestreamFollower: a file that `litestream
// restore -f` keeps (it writes path-txid beside it) gets its pages from
// the replica; a read-write open or Connect is refused with ErrReadOnly,
// naming the follower and what to do, and writes nothing; a read-only open
// works. The replication tests prove it with the real Litestream.
func TestOpen_RefusesWritesToALitestreamFollower(t *testing.T) {
	s := openStore(t, resonance.Options{})
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-txid", []byte("0000000000000010\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, path)
	_, err := resonance.Open(t.Context(), path, resonance.Options{})
	if !errors.Is(err, resonance.ErrReadOnly) || !strings.Contains(err.Error(), "litestream restore -f") || !strings.Contains(err.Error(), path+"-txid") {
		t.Errorf("Open(a Litestream follower) = %v; want ErrReadOnly naming the follower and its -txid file", err)
	}
	if _, err := resonance.Connect(t.Context(), path, resonance.Options{}); !errors.Is(err, resonance.ErrReadOnly) {
		t.Errorf("Connect(a Litestream follower) = %v; want ErrReadOnly", err)
	}
	if fileHash(t, path) != before {
		t.Error("the refused open changed the follower")
	}
	ro, err := resonance.Open(t.Context(), path, resonance.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a read-only open of a follower: %v", err)
	}
	if _, err := ro.Stats(t.Context()); err != nil {
		t.Error(err)
	}
	ro.Close()
}
