package resonance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/resonance-graph/resonancedb/internal/inuse"
)

// fileID is the identity of a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func fileIDOf(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return fileIDOfInfo(fi)
}

func fileIDOfInfo(fi os.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("the file system reports no device and inode numbers")
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// fileWatch remembers which file a store opened, so that the store can
// tell whether the path still leads to it and whether something other than
// SQLite wrote over it. A database removed, moved or replaced while a
// store has it open would take every later write with it, to a file no one
// will open again, and with another file renamed over it the store's open
// connections would answer from the old file and its new ones from the
// new. A file written over in place (cp backup.db graph.db: same inode, new
// bytes) is worse: every connection then reads the pages the WAL holds
// from the old content and the rest from the new. So the store checks: on
// every new connection, and before a transaction, read or search at most
// every fileCheckEvery (a stat costs several microseconds, as much as an
// empty read transaction; see the README's measurements). Once it sees
// either, the store refuses all further work with ErrReplaced; until a
// check sees it, it answers as SQLite does.
//
// New connections check too, the store's connectors having the watch in
// their Options: a connection to the file now at the path is never opened,
// even between a check and the transaction that follows it.
//
// Writes over the file in place are seen in the bytes on disk. In WAL mode
// SQLite writes to the database file only in a checkpoint, which copies
// frames from the WAL into it (VACUUM too goes through the WAL), and the
// wal-index in -shm records every one (https://www.sqlite.org/walformat.html):
// a checkpoint first sets nBackfillAttempted, then writes the file (with
// mmap on, it first extends it to the WAL's page count, even when it
// copies no page 1), then sets nBackfill, and restarting the WAL changes
// its salts (so may the first write to an emptied WAL). The store keeps a descriptor of the
// database and of its -shm, and each check reads the database's first 100
// bytes and its size between two readings of those -shm fields. Once the
// file had a WAL database's header, a header that is no longer one
// (emptied, cut short by a copy under way, a rollback-journal file) is a
// foreign write: SQLite's page 1 always keeps those bytes. When the two
// readings of -shm agree and no checkpoint is under way (nBackfillAttempted
// equals nBackfill), no checkpoint wrote while the header was read, and it
// is a foreign write when
//   - the change counter (offset 24) went backwards: SQLite sets it from
//     the last one each time it writes page 1, VACUUM and the backup API
//     included, so it never decreases, and an older backup of the same
//     database holds an older one (it may stay the same while page 1
//     changes: a writer that did not reread page 1 writes the same value);
//   - the header or size changed while the -shm fields did not: no
//     checkpoint ran since the last look, so nobody but a foreign writer
//     changed the file.
//
// A checkpoint cut short (nBackfillAttempted stays above nBackfill: a
// process killed while it copied the WAL, an interrupt, a full disk, or
// SQLite refusing to checkpoint into a file shorter than the WAL counts,
// as after a copy of an older backup) may have written some pages and not
// said so; while the -shm fields read the same twice and no connection
// holds the checkpoint lock (/proc/locks), only a counter gone backwards
// is taken for a foreign write.
//
// A finding counts only when a second look, a moment later, finds it
// again (a foreign write stays; a race with a checkpoint would not), and
// the error says what was seen. Every other change is taken as the
// checkpoint's and becomes the new reference. Not detected, then: a copy
// whose first 100 bytes and size are those of the file it replaced (a
// copy of the database as it is now, or of one whose page 1 has not
// changed since); a copy followed, before the
// store's next check, by another process's checkpoint, a restart of the
// WAL or the first write to an emptied one (the change is taken as the
// checkpoint's: it is unnoticed unless the counter went backwards; the
// store's own checkpoints, Store.Checkpoint's and the background one's,
// look at the file first, whatever the last look); a copy with a counter as
// new or newer while a checkpoint is cut short, until the next one
// completes; writes past the first page that leave the header and size as
// they were; and a file in rollback-journal mode (a Litestream follower,
// which SQLite's own change counter guards) or whose -shm is not the one at
// the path (deleted and made again), which are not watched in place. A
// touch or chmod changes neither bytes nor size and is no alarm.
//
// Closing a descriptor drops every POSIX lock the process holds on that
// file, SQLite's included (that would let another process reset the -shm
// under this one's connections), so the descriptors are closed only once
// this process holds no lock on the files (/proc/locks; on systems without
// it nothing is watched in place): inuse.Close keeps them open until then.
type fileWatch struct {
	id       fileID                 // written before known is set
	known    atomic.Bool            // id holds the identity of the file the store opened
	replaced atomic.Int32           // once not stillThere, the store is done
	due      atomic.Int64           // when verifyDue checks again, in nanoseconds since watchClock
	why      atomic.Pointer[string] // what showed the file written over

	mu      sync.Mutex  // guards what follows
	disk    *os.File    // the database, read-only; nil until watched in place
	shm     *os.File    // its -shm
	shmInfo os.FileInfo // shm's identity
	last    diskState   // what the last quiet look saw
	stopped bool        // the store closed: open no descriptors
}

// Values of fileWatch.replaced.
const (
	stillThere  = iota
	pathMoved   // the path leads to another file, or to none
	overwritten // the file was written over in place
)

// diskState is what a look at the database and its -shm saw.
type diskState struct {
	header [100]byte // the database's first 100 bytes, zeros past its end
	size   int64
	ckpt   [16]byte // the WAL's salts, nBackfill and nBackfillAttempted, as -shm holds them
}

// walHeader reports whether d.header is that of a SQLite database in WAL
// mode (read and write versions 2).
func (d *diskState) walHeader() bool {
	return string(d.header[:16]) == "SQLite format 3\x00" && d.header[18] == 2 && d.header[19] == 2
}

// counter is the database's file change counter.
func (d *diskState) counter() uint32 { return binary.BigEndian.Uint32(d.header[24:28]) }

// fileCheckEvery is how long a store's transactions and reads go without
// checking that the path still leads to the database (new connections
// always check).
const fileCheckEvery = 100 * time.Millisecond

// watchClock is the monotonic origin of fileWatch.due.
var watchClock = time.Now()

// verifyDue is verify at most every fileCheckEvery, and at once after the
// file was seen replaced.
func (w *fileWatch) verifyDue(path string) error {
	now := int64(time.Since(watchClock))
	if w.replaced.Load() == stillThere && now < w.due.Load() {
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

// openInPlace opens the descriptors of the check in place, on Linux once
// the database has a -shm, and takes the first look. w.mu is held.
func (w *fileWatch) openInPlace(path string) {
	if _, err := os.Stat("/proc/locks"); err != nil {
		return
	}
	shm, err := os.Open(path + "-shm")
	if err != nil {
		return
	}
	disk, err := os.Open(path)
	if err != nil {
		inuse.Close(shm)
		return
	}
	if w.shmInfo, err = shm.Stat(); err != nil {
		inuse.Close(shm, disk)
		return
	}
	w.disk, w.shm = disk, shm
	d, quiet, _, ok := w.look(path)
	fi, err := disk.Stat()
	if err != nil || !ok {
		w.closeInPlace()
		return
	}
	if id, err := fileIDOfInfo(fi); err != nil || id != w.id {
		w.closeInPlace()
		return
	}
	if quiet {
		w.last = d
	}
}

// stop releases the descriptors of the check in place for good; a store
// calls it once its connections are closed.
func (w *fileWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.closeInPlace()
}

func (w *fileWatch) closeInPlace() {
	if w.disk != nil {
		inuse.Close(w.disk, w.shm)
		w.disk, w.shm = nil, nil
	}
}

// look reads the database's header and size between two readings of the
// -shm fields. stable is true when both readings agree, quiet when
// besides no checkpoint is under way: then no checkpoint wrote the file
// meanwhile. ok is false when the -shm at the path is not the one the
// store opened.
func (w *fileWatch) look(path string) (d diskState, quiet, stable, ok bool) {
	var before, after [16]byte
	if !w.readCkpt(&before) || !w.readHeader(&d) {
		return d, false, false, false
	}
	fi, err := w.disk.Stat()
	if err != nil {
		return d, false, false, false
	}
	d.size = fi.Size()
	if !w.readCkpt(&after) {
		return d, false, false, false
	}
	d.ckpt = before
	if sfi, err := os.Stat(path + "-shm"); err != nil || !os.SameFile(sfi, w.shmInfo) {
		return d, false, false, false
	}
	return d, before == after && !underway(before), before == after, true
}

// cutShort reports whether the checkpoint that -shm shows under way was
// cut short, so that d, read in that state, is no torn read of a page 1
// a checkpoint was writing: no connection holds the checkpoint lock (byte
// 121 of -shm), and then the header and the -shm fields read again the
// same (a checkpoint that began since would have changed the fields
// before writing, or writes the same frames again).
func (w *fileWatch) cutShort(d diskState) bool {
	if locked, err := inuse.ByteLocked(w.shm, 121); err != nil || locked {
		return false
	}
	var again diskState
	if !w.readHeader(&again) || !w.readCkpt(&again.ckpt) {
		return false
	}
	return again.header == d.header && again.ckpt == d.ckpt
}

// underway reports whether a checkpoint is under way, or was cut short:
// nBackfillAttempted differs from nBackfill.
func underway(ckpt [16]byte) bool { return !bytes.Equal(ckpt[8:12], ckpt[12:16]) }

// readHeader reads the database's first 100 bytes into d.header; a file
// shorter than that reads as zeros past its end.
func (w *fileWatch) readHeader(d *diskState) bool {
	_, err := w.disk.ReadAt(d.header[:], 0)
	return err == nil || errors.Is(err, io.EOF)
}

// readCkpt reads from -shm the WAL's salts (offset 32 of the wal-index
// header) and the checkpoint's nBackfill (96) and nBackfillAttempted (128),
// in the machine's byte order, as SQLite keeps them.
func (w *fileWatch) readCkpt(c *[16]byte) bool {
	var b [132]byte
	if n, _ := w.shm.ReadAt(b[:], 0); n < len(b) {
		return false
	}
	copy(c[0:8], b[32:40])
	copy(c[8:12], b[96:100])
	copy(c[12:16], b[128:132])
	return true
}

// writtenOver reports whether something other than SQLite wrote the
// database file since the last quiet look (see fileWatch), and takes a
// quiet look that finds nothing wrong as the new reference.
func (w *fileWatch) writtenOver(path string) bool {
	if !w.mu.TryLock() { // another check is looking
		return false
	}
	defer w.mu.Unlock()
	if w.stopped {
		return false
	}
	if w.disk == nil {
		w.openInPlace(path)
		return false
	}
	// Most looks find the header and size as they were: one reading of
	// -shm then does, taken before them (a checkpoint may change the size
	// alone: with mmap on, it extends the file to the WAL's page count
	// before it copies frames).
	var d diskState
	if !w.readCkpt(&d.ckpt) || !w.readHeader(&d) {
		return false
	}
	fi, err := w.disk.Stat()
	if err != nil {
		return false
	}
	if d.header == w.last.header && fi.Size() == w.last.size {
		if !underway(d.ckpt) {
			w.last.ckpt = d.ckpt
		}
		return false
	}
	// A foreign write stays: a finding is taken only when a second look,
	// a moment later, finds the same (a race with a checkpoint would not
	// last).
	var why string
	for look := range 2 {
		if look > 0 {
			time.Sleep(fileConfirmWait)
		}
		found, quiet, ok := w.judge(path)
		if !ok {
			return false
		}
		if found == "" {
			if quiet != nil {
				w.last = *quiet
			}
			return false
		}
		why = found
	}
	w.why.Store(&why)
	return true
}

// fileConfirmWait is how long writtenOver waits before it looks again at
// what looked like a foreign write.
const fileConfirmWait = 2 * time.Millisecond

// judge looks at the file (see fileWatch) and returns what shows a
// foreign write since w.last, or "" and, from a quiet look, the new
// reference. ok is false when the look could not be taken.
func (w *fileWatch) judge(path string) (why string, quietLook *diskState, ok bool) {
	d, quiet, stable, ok := w.look(path)
	if !ok {
		return "", nil, false
	}
	if w.last.walHeader() {
		backwards := int32(d.counter()-w.last.counter()) < 0
		switch {
		case !d.walHeader():
			return "its header is no longer that of a SQLite database in WAL mode", nil, true
		case backwards && (quiet || stable && w.cutShort(d)):
			return fmt.Sprintf("its change counter went back from %d to %d", w.last.counter(), d.counter()), nil, true
		case quiet && d.ckpt == w.last.ckpt && (d.header != w.last.header || d.size != w.last.size):
			return fmt.Sprintf("its header or size (%d bytes, before %d) changed while no checkpoint ran", d.size, w.last.size), nil, true
		}
	}
	if quiet {
		return "", &d, true
	}
	return "", nil, true
}

// verify returns an error naming path when it no longer leads to the file
// start saw, or that file was written over in place, and from then on
// always.
func (w *fileWatch) verify(path string) error {
	if w == nil || !w.known.Load() {
		return nil
	}
	if w.replaced.Load() == stillThere {
		id, err := fileIDOf(path)
		switch {
		case err != nil || id != w.id:
			w.replaced.CompareAndSwap(stillThere, pathMoved)
		case w.writtenOver(path):
			w.replaced.CompareAndSwap(stillThere, overwritten)
		default:
			return nil
		}
	}
	if w.replaced.Load() == overwritten {
		why := ""
		if p := w.why.Load(); p != nil {
			why = " (" + *p + ")"
		}
		return fmt.Errorf("%w: %q was written over while open%s: a copy onto it, as `cp backup.db graph.db` makes, "+
			"and its connections would read the pages its WAL holds from the old content and the rest from the new, so the store refuses further work; "+
			"close every process that has it open and put the backup in place again with `resonance restore`, then open it again (the copy now holds pages of the old WAL)",
			ErrReplaced, path, why)
	}
	return fmt.Errorf("%w: %q no longer leads to the database this store opened: it was removed, moved or replaced by another file while open, "+
		"and the store refuses further work rather than answer from two files; close the store and open it again to use the file now at that path", ErrReplaced, path)
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
//
// The database is looked for again after its -wal or -shm were seen: a
// connection of another process or goroutine may have created all three
// in between (concurrent first opens of a new database), and then nothing
// was deleted.
func deletedWhileOpen(path string) bool {
	missing := func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, os.ErrNotExist)
	}
	if !missing() {
		return false
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			return missing()
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
	defer inuse.Close(f) // other connections of this process may hold locks on it
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
