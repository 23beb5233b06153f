package resonance

import (
	"context"
	"database/sql"
	"encoding/binary"
	"log/slog"
	"os"
	"sync"
	"time"
)

// A read-write store checkpoints in the background: a goroutine with a
// connection of its own copies the WAL into the database while the writer
// goes on writing, instead of the writer doing it inside the commit that
// crosses SQLite's wal_autocheckpoint threshold and holding the write lock
// all the while.
//
// After each commit of a write transaction the committing goroutine reads
// how many frames the WAL holds that are not in the database yet from the
// WAL index, the first bytes of the -shm file
// (https://sqlite.org/walformat.html: mxFrame in the header, nBackfill in
// the checkpoint information after its two copies). Once they reach
// bgCheckpointFrames it wakes the goroutine (a send that never blocks),
// which runs PRAGMA wal_checkpoint(PASSIVE). (Waking the goroutine after
// every commit to read them itself cost a one-row write transaction, W2,
// about a sixth of its time on two cores.) A PASSIVE checkpoint takes no
// lock that the writer or the readers wait for; it copies the frames that
// no reader still needs, and the writer starts the WAL over at its next
// transaction once every frame has been copied.
//
// The writer keeps wal_autocheckpoint (at writerAutocheckpoint pages) as a
// bound on the WAL, for writes that do not wake the goroutine (statements
// run on Store.DB() outside a Tx) and for when the goroutine falls behind.
// The checkpoints of Store.Checkpoint and of the goroutine never overlap:
// SQLite would report the second one busy at once.
//
// With Options.ExternalCheckpoints there is no goroutine (W5).

// bgCheckpointFrames is how many frames the WAL holds beyond the database
// before the background checkpoint runs: 4 MiB of 4 KiB pages.
const bgCheckpointFrames = 1000

// WAL index offsets (native byte order, as SQLite writes them).
const (
	shmMaxFrame  = 16 // WalIndexHdr.mxFrame, in the first copy of the header
	shmBackfill  = 96 // WalCkptInfo.nBackfill, after the two 48-byte copies
	shmReadBytes = shmBackfill + 4
)

type checkpointer struct {
	path    string
	db      *sql.DB // one connection, never in a transaction between checkpoints
	log     *slog.Logger
	mu      *sync.Mutex
	wake    chan struct{} // never closed: commits may still send after stop (O4)
	quit    chan struct{} // closed by stop
	done    chan struct{} // closed when the goroutine has ended
	failing bool          // the last checkpoint failed; logged once until one succeeds

	shmMu   sync.Mutex // guards shm, opened by the first commit, and stopped
	shm     *os.File
	stopped bool
}

// startCheckpointer starts the background checkpoint of a read-write store.
// mu is held by every checkpoint of the store.
func startCheckpointer(path string, o Options, mu *sync.Mutex) (*checkpointer, error) {
	c, err := newConnector(path, o, "deferred")
	if err != nil {
		return nil, err
	}
	cp := &checkpointer{path: path, db: oneConnPool(c), log: o.Logger, mu: mu, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	go cp.loop()
	return cp, nil
}

// committed tells the checkpointer that a write transaction committed: it
// wakes the goroutine once the WAL holds bgCheckpointFrames frames not
// yet checkpointed. It never blocks and is safe after stop: a writer
// racing Store.Close must get ErrClosed or success, not a send on a
// closed channel.
func (cp *checkpointer) committed() {
	if cp.pending() < bgCheckpointFrames {
		return
	}
	select {
	case cp.wake <- struct{}{}:
	default:
	}
}

func (cp *checkpointer) loop() {
	defer close(cp.done)
	for {
		select {
		case <-cp.quit:
			return
		case <-cp.wake:
			cp.checkpoint()
		}
	}
}

// checkpoint runs one PASSIVE checkpoint. A failure loses nothing: the next
// commit tries again and, past the writer's wal_autocheckpoint, the writer
// checkpoints itself. It is logged once, and so is the recovery.
func (cp *checkpointer) checkpoint() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	start := time.Now()
	var busy, frames, copied int64
	err := cp.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	switch {
	case err != nil && !cp.failing:
		cp.failing = true
		cp.log.Warn("resonance: background checkpoint failed; the writer checkpoints once the WAL holds 4,000 pages",
			"db", cp.path, "err", classify(err))
	case err == nil && cp.failing:
		cp.failing = false
		cp.log.Info("resonance: background checkpoint works again", "db", cp.path)
	case err == nil:
		cp.log.Debug("resonance: background checkpoint", "db", cp.path, "log_frames", frames,
			"checkpointed", copied, "took", time.Since(start))
	}
}

// pending is the number of WAL frames not yet copied into the database, as
// the WAL index says; 0 when it cannot be read.
func (cp *checkpointer) pending() int64 {
	cp.shmMu.Lock()
	defer cp.shmMu.Unlock()
	if cp.stopped {
		return 0
	}
	if cp.shm == nil {
		f, err := os.Open(cp.path + "-shm")
		if err != nil {
			return 0
		}
		cp.shm = f
	}
	var buf [shmReadBytes]byte
	if _, err := cp.shm.ReadAt(buf[:], 0); err != nil {
		return 0
	}
	mx := binary.NativeEndian.Uint32(buf[shmMaxFrame:])
	bf := binary.NativeEndian.Uint32(buf[shmBackfill:])
	if bf >= mx {
		return 0
	}
	return int64(mx - bf)
}

// stop ends the goroutine and closes its connection.
func (cp *checkpointer) stop() error {
	close(cp.quit)
	<-cp.done
	cp.shmMu.Lock()
	cp.stopped = true
	if cp.shm != nil {
		cp.shm.Close()
	}
	cp.shmMu.Unlock()
	return cp.db.Close()
}
