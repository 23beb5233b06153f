package resonance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// fileID is the identity of a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func fileIDOf(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("the file system reports no device and inode numbers")
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// fileWatch remembers which file a store opened, so that the store can
// tell whether the path still leads to it. A database removed, moved or
// replaced while a store has it open would take every later write with
// it, to a file no one will open again, and with another file renamed
// over it the store's open connections would answer from the old file
// and its new ones from the new. So the store checks: on every new
// connection, and before a transaction, read or search at most every
// fileCheckEvery (a stat costs several microseconds, as much as an empty
// read transaction; see the README's measurements). Once the path leads
// elsewhere the store refuses all further work; until a check sees it,
// only connections to the file the store opened answer. A file whose
// bytes are overwritten in place (cp onto the same inode) keeps its
// identity and is not detected.
//
// New connections check too, the store's connectors having the watch in
// their Options: a connection to the file now at the path is never opened,
// even between a check and the transaction that follows it.
type fileWatch struct {
	id       fileID       // written before known is set
	known    atomic.Bool  // id holds the identity of the file the store opened
	replaced atomic.Bool  // the path once led elsewhere: the store is done
	due      atomic.Int64 // when verifyDue checks again, in nanoseconds since watchClock
}

// fileCheckEvery is how long a store's transactions and reads go without
// checking that the path still leads to the database (new connections
// always check).
const fileCheckEvery = 100 * time.Millisecond

// watchClock is the monotonic origin of fileWatch.due.
var watchClock = time.Now()

// verifyDue is verify at most every fileCheckEvery, and at once after the
// path was seen to lead elsewhere.
func (w *fileWatch) verifyDue(path string) error {
	now := int64(time.Since(watchClock))
	if !w.replaced.Load() && now < w.due.Load() {
		return nil
	}
	w.due.Store(now + int64(fileCheckEvery))
	return w.verify(path)
}

// start records the identity of the file at path; a store calls it once
// its connections have the database open.
func (w *fileWatch) start(path string) {
	if id, err := fileIDOf(path); err == nil {
		w.id = id
		w.known.Store(true)
	}
}

// verify returns an error naming path when it no longer leads to the file
// start saw, and from then on always.
func (w *fileWatch) verify(path string) error {
	if w == nil || !w.known.Load() {
		return nil
	}
	if !w.replaced.Load() {
		if id, err := fileIDOf(path); err == nil && id == w.id {
			return nil
		}
		w.replaced.Store(true)
	}
	return fmt.Errorf("%q no longer leads to the database this store opened: it was removed, moved or replaced by another file while open, "+
		"and the store refuses further work rather than answer from two files; close the store and open it again to use the file now at that path", path)
}

// check logs a warning when path no longer leads to the file start saw.
func (w *fileWatch) check(path string, log *slog.Logger) {
	if !w.known.Load() {
		return
	}
	id, err := fileIDOf(path)
	switch {
	case err != nil:
		log.Warn(fmt.Sprintf("resonance: close %q: the path no longer leads to the database this store had open: it was removed or moved while open (%v); what was written since went to the removed file: look for it, or restore from backups/", path, err),
			"db", path)
	case id != w.id:
		log.Warn(fmt.Sprintf("resonance: close %q: the path no longer leads to the database this store had open: another file replaced it while open; what was written since is not in the file now at that path", path),
			"db", path)
	}
}

// deletedWhileOpen reports whether the database at path is missing while
// its -wal or -shm remain: it was deleted, most likely while a process had
// it open.
func deletedWhileOpen(path string) bool {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			return true
		}
	}
	return false
}

// deletedError is the open error for a database deleted while open.
func deletedError(path string) error {
	return fmt.Errorf("resonance: open %q: %w: the database was deleted while a process had it open (its -wal or -shm remain): "+
		"the processes that have it open keep writing to the deleted file; stop them, then restore the newest backup (backups/ beside it); "+
		"never delete the database, -wal or -shm while it is open", path, os.ErrNotExist)
}

// missingCompanion names the -wal or -shm of the database at path that
// was deleted while a process had the database open, and says what to do.
// A deleted -wal is seen as one holding fewer frames than the -shm index
// counts (a new connection may have created an empty one since); it held
// transactions that new connections cannot read. It returns "" when
// neither is missing.
func missingCompanion(path string) string {
	base := filepath.Base(path)
	_, dbErr := os.Stat(path)
	_, walErr := os.Stat(path + "-wal")
	_, shmErr := os.Stat(path + "-shm")
	switch {
	case dbErr != nil:
		return ""
	case shmErr == nil && walShort(path):
		return fmt.Sprintf("%s-wal was deleted while a process had the database open (%s-shm counts more frames than -wal holds): new connections cannot read the transactions it held; "+
			"close every process that has the database open (the last one to close writes them back into the database), then open it again; "+
			"never delete -wal or -shm while the database is open", base, base)
	case walErr == nil && errors.Is(shmErr, os.ErrNotExist):
		return fmt.Sprintf("%s-shm was deleted while the database was open (%s-wal remains): processes that still use the deleted -shm do not see the locks of a new one, which can corrupt the database; "+
			"close every process that has the database open, then run `resonance doctor --db %s`; never delete -wal or -shm while the database is open", base, base, path)
	}
	return ""
}

// walShort reports whether the -wal of the database at path holds fewer
// frames than the header of the WAL index in -shm counts (mxFrame), or is
// missing while the index counts any.
func walShort(path string) bool {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return false
	}
	defer f.Close()
	// The index header: iVersion, unused, iChange (u32 each), isInit (u8),
	// bigEndCksum (u8), szPage (u16; 1 means 65536), mxFrame (u32)..., in
	// the machine's byte order.
	h := make([]byte, 20)
	if _, err := io.ReadFull(f, h); err != nil || h[12] != 1 {
		return false
	}
	pageSize := int64(binary.NativeEndian.Uint16(h[14:16]))
	if pageSize == 1 {
		pageSize = 65536
	}
	frames := int64(binary.NativeEndian.Uint32(h[16:20]))
	if frames == 0 {
		return false
	}
	fi, err := os.Stat(path + "-wal")
	return err != nil || fi.Size() < 32+frames*(24+pageSize)
}
