package resonance

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A read-write store checkpoints in the background: a goroutine with a
// connection of its own copies the WAL into the database while the writer
// goes on writing, instead of the writer doing it inside the commit that
// crosses SQLite's wal_autocheckpoint threshold and holding the write lock
// all the while.
//
// Each commit of a write transaction is counted (an atomic add). When the
// count reaches the number of commits expected to have written
// bgCheckpointFrames WAL frames, the committing goroutine wakes the
// checkpoint goroutine (a send that never blocks), which runs PRAGMA
// wal_checkpoint(PASSIVE). Its answer, the frames the WAL holds, divided
// by the commits since the checkpoint before gives the frames a commit
// writes, and from it the next count. Until the first checkpoint the
// goroutine, woken by the first commit, estimates it from the size of
// -wal and checkpoints only once that reaches bgCheckpointFrames. Counting
// keeps a commit to one atomic add: waking the goroutine after every
// commit cost short write transactions a noticeable share of their time
// (the README's performance section).
// Nothing reads the WAL index in -shm directly: closing a descriptor of a
// file releases every POSIX lock the process holds on it, SQLite's
// included (https://sqlite.org/howtocorrupt.html, section 2.2).
//
// A PASSIVE checkpoint takes no lock that the writer or the readers wait
// for; it copies the frames that no reader still needs, and the writer
// starts the WAL over at its next transaction once every frame has been
// copied.
//
// The writer keeps wal_autocheckpoint (4,000 pages, requiredPragmas) as a
// bound on the WAL, for writes that do not wake the goroutine (statements
// run on Store.DB() outside a Tx) and for when the goroutine falls behind.
// The checkpoints of Store.Checkpoint and of the goroutine never overlap:
// SQLite would report the second one busy at once.
//
// With Options.ExternalCheckpoints there is no goroutine (W5).

// bgCheckpointFrames is how many frames the WAL holds beyond the database
// before the background checkpoint runs: 4 MiB of 4 KiB pages.
const bgCheckpointFrames = 1000

type checkpointer struct {
	path    string
	db      *sql.DB // the Store's ckptDB: one connection, never in a transaction between checkpoints
	log     *slog.Logger
	look    func() error  // the store's look at its file before each checkpoint (fileid.go)
	mu      sync.Mutex    // held by every checkpoint: this goroutine's and Store.Checkpoint's
	wake    chan struct{} // never closed: commits may still send after stop (O4)
	quit    chan struct{} // closed by stop
	done    chan struct{} // closed when the goroutine has ended
	failing bool          // the last checkpoint failed; logged once until one succeeds

	commits atomic.Int64 // commits since the goroutine last took the count
	due     atomic.Int64 // the count at which a commit wakes the goroutine
	// The goroutine's own: the WAL's frames at the last checkpoint, and
	// whether one has run.
	lastLog      int64
	checkpointed bool
	pageSize     int64
}

// startCheckpointer starts the background checkpoint of a read-write store
// on db, the Store's pool of one connection for it (openPools), whose
// connection opens here, with the store, and never creates the file:
// opened later, after the database file was deleted or replaced, it would
// make an empty one, or take the -shm of the replaced file for its own
// and truncate it under the store's other connections (SIGBUS).
//
// look runs before each checkpoint, which writes into the database file:
// when it fails (a copy was made over the file), no checkpoint runs.
func startCheckpointer(path string, db *sql.DB, log *slog.Logger, look func() error) (*checkpointer, error) {
	var pageSize int64
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		return nil, err
	}
	cp := &checkpointer{path: path, db: db, log: log, look: look, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), pageSize: pageSize}
	cp.due.Store(1)
	go cp.loop()
	return cp, nil
}

// committed tells the checkpointer that a write transaction committed: it
// wakes the goroutine once a checkpoint is due. It never blocks and is
// safe after stop: a writer racing Store.Close must get ErrClosed or
// success, not a send on a closed channel.
func (cp *checkpointer) committed() {
	if cp.commits.Add(1) < cp.due.Load() {
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
			n := cp.commits.Swap(0)
			if !cp.checkpointed {
				// Nothing learnt yet: the size of -wal (a stat, which
				// opens nothing) bounds the frames written since open.
				if frames := cp.walFrames(); frames < bgCheckpointFrames {
					cp.commits.Add(n)
					cp.due.Store(max(1, bgCheckpointFrames/max(1, frames/max(n, 1))))
					continue
				}
			}
			if log, ok := cp.checkpoint(); ok {
				cp.checkpointed = true
				cp.plan(n, log)
			}
		}
	}
}

// walFrames is the number of frames the -wal file has room for: at most
// the frames written since the WAL last started over.
func (cp *checkpointer) walFrames() int64 {
	fi, err := os.Stat(cp.path + "-wal")
	if err != nil || fi.Size() < 32 {
		return 0
	}
	return (fi.Size() - 32) / (24 + cp.pageSize)
}

// plan sets the number of commits after which the next checkpoint is due,
// from the n commits since the last one and the frames the WAL holds now.
func (cp *checkpointer) plan(n, log int64) {
	// The WAL starts over after a complete checkpoint, but only once no
	// frame has been added meanwhile: while it holds more frames than
	// last time, count the difference.
	added := log
	if log > cp.lastLog {
		added = log - cp.lastLog
	}
	perCommit := max(1, added/max(n, 1))
	cp.due.Store(max(1, bgCheckpointFrames/perCommit))
	cp.lastLog = log
}

// checkpoint runs one PASSIVE checkpoint and returns the frames the WAL
// holds, as SQLite answers. A failure
// loses nothing: a later commit tries again and, past the writer's
// wal_autocheckpoint, the writer checkpoints itself. It is logged once,
// and so is the recovery.
func (cp *checkpointer) checkpoint() (log int64, ok bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.look() != nil {
		return 0, false // the store refuses all work from now on, and says why
	}
	start := time.Now()
	var busy, copied int64
	err := cp.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	switch {
	case err != nil && !cp.failing:
		cp.failing = true
		cp.log.Warn("resonance: background checkpoint failed; the writer checkpoints once the WAL holds 4,000 pages",
			"db", cp.path, "err", classify(err))
	case err == nil && cp.failing:
		cp.failing = false
		cp.log.Info("resonance: background checkpoint works again", "db", cp.path)
	case err == nil:
		cp.log.Debug("resonance: background checkpoint", "db", cp.path, "log_frames", log,
			"checkpointed", copied, "took", time.Since(start))
	}
	return log, err == nil
}

// stop ends the goroutine; the Store closes its connection.
func (cp *checkpointer) stop() {
	close(cp.quit)
	<-cp.done
}
