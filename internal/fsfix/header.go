package fsfix

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/resonance-graph/resonancedb/internal/inuse"
)

// SizeProblem compares the size of the SQLite database at path with what
// its header says, and describes a mismatch: a file that is not a whole
// number of pages, or shorter than the pages its header counts, was cut
// short. It returns "" when the sizes agree, or when the file has no valid
// header to compare with (SQLite itself then says it is not a database).
//
// A checkpoint in another process writes page 1 before the pages after it,
// so a healthy file can look short for a moment: call it to explain a
// failure, not to look for one.
func SizeProblem(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer inuse.Close(f) // the caller's connections may hold locks on it
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	h := make([]byte, 100)
	if _, err := io.ReadFull(f, h); err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return ""
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return ""
	}
	size, name := fi.Size(), filepath.Base(path)
	if size%pageSize != 0 {
		return fmt.Sprintf("%s is %d bytes, not a whole number of %d-byte pages: the file was truncated or damaged", name, size, pageSize)
	}
	// The page count in the header is valid when the "version valid for"
	// number equals the change counter.
	pages := int64(binary.BigEndian.Uint32(h[28:32]))
	if binary.BigEndian.Uint32(h[92:96]) == binary.BigEndian.Uint32(h[24:28]) && size < pages*pageSize {
		return fmt.Sprintf("%s is truncated: it is %d bytes, but its header counts %d pages of %d bytes (%d bytes)", name, size, pages, pageSize, pages*pageSize)
	}
	return ""
}

// DamagedFix is the fix for a database at db that SQLite cannot read: a
// check that must open it first cannot help. The .recover of the sqlite3
// shell reads the pages through the sqlite_dbpage table, which the builds
// of some distributions (Debian's, Ubuntu's) leave out: there it fails
// with "SQL logic error" and the pipe restores nothing.
func DamagedFix(db string) string {
	recovered := filepath.Join(filepath.Dir(db), "recovered.db")
	return fmt.Sprintf("restore the newest good backup while no process has the database open (the pre-migration copies in %s, or a `resonance backup` copy); "+
		"or salvage what is left: sqlite3 %s .recover | sqlite3 %s (with an sqlite3 that has sqlite_dbpage, as sqlite.org's builds do)",
		Quote(filepath.Join(filepath.Dir(db), "backups")+"/"), Quote(db), Quote(recovered))
}
