package resonance

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store is an open Resonance Graph database: one writer, a pool of
// query_only readers and a background checkpointer. It is safe for
// concurrent use; open one per database file per process and share it.
type Store struct {
	path string // absolute path of the database file
	opts Options

	// The store's connection pools: openPools opens them all, closePools
	// closes them all; nothing else opens or closes one.
	writer  *sql.DB // one connection; transactions begin IMMEDIATE
	readers *sql.DB // query_only connections; transactions begin DEFERRED
	search  *sql.DB // the vector index's query_only connections
	ckptDB  *sql.DB // the background checkpoint's one connection; nil without one

	reads     ReadTx       // Reads: the ReadTx on the reader pool, outside a transaction
	longTx    atomic.Int64 // transactions open longer than BusyTimeout/2 (W8)
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	vindex *vectorIndex  // on search; its copy is read by the first search (vectorindex.go)
	ckpt   *checkpointer // on ckptDB; nil on a read-only store and with ExternalCheckpoints

	file fileWatch // the database file's identity at open, checked at Close (fileid.go)
}

// Lock order: the package's mutexes, and the pools' connections, which
// are waited for like locks. Each may be held while the ones after it are
// taken, never the other way round:
//
//  1. Store.closeOnce, held by Close, which cancels buildCopy's goroutine
//     and waits for it, takes vectorIndex.mu to drop the copy, waits for
//     the checkpoint goroutine to end, then stops the fileWatch (6).
//  2. A connection of the writer or of the readers: Tx, Read, Begin,
//     Reads, Health, maintenance. A commit tells the checkpointer with an
//     atomic add, taking no lock.
//  3. checkpointer.mu, held by every checkpoint: the goroutine's, on
//     ckptDB, and Store.Checkpoint's, which under it also takes the
//     writer; a Tx of its caller may hold that, so it waits at most the
//     busy timeout (ErrBusy) instead of for ever.
//  4. A connection of search: a search's read transaction.
//  5. vectorIndex.triggersMu, released before vectorIndex.mu (searches
//     RLock it, the copy changes under Lock).
//  6. fileWatch.mu (a check of the file, which only tries it), then the
//     mutex of inuse.Close's parked files.
//  7. vectorIndex.snapMu, taken under vectorIndex.mu by the search that
//     starts a snapshot. The snapshot's goroutine takes vectorIndex.mu's
//     RLock and a connection of the writer one after the other, never
//     together; Close waits for it holding only closeOnce (1). buildCopy
//     takes snapMu, then vectorIndex.mu with TryLock, never together; its
//     goroutine holds that Lock and the search connection (4) of the
//     transaction it took over, taking snapMu at its end; a search waits
//     for it without holding the lock (vectorIndex.lock).

// Open opens the Resonance Graph database at path, the seed's ResonanceDB.
//
// It refuses bad Options before touching the disk (C11), a missing file
// unless o.Create is set (C10), then applies the pending migrations (M1),
// each exactly once across openers (M2) and whole or not at all (M3), after
// a backup of a database that holds data (M6), and runs PRAGMA optimize
// (W6).
//
// A database holding migration versions this binary does not know is
// refused with ErrSchemaMismatch and left untouched (M4). A read-only store
// applies nothing and refuses a database with pending migrations with
// ErrSchemaMismatch.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	// What Open does, in order; each step is a function of its own:
	//
	//  1. o.withDefaults and prepareFile check the options and the path;
	//     nothing on disk changes before both pass (C10, C11).
	//  2. openPools opens the writer (one connection) and the readers; the
	//     connector hardens every connection (connector.go, C1–C8).
	//  3. s.migrate (migrate.go) brings the schema up to date:
	//     a. adoptOriginal (adopt.go) converts a database made by the
	//        original, after preMigrationBackup has copied it (X1);
	//     b. checkKnown refuses versions this binary does not know (M4);
	//     c. preMigrationBackup copies a database that holds data
	//        (backupTo in backup.go, through internal/output; M6);
	//     d. applyMigration runs each pending migration in its own
	//        IMMEDIATE transaction (M1–M3).
	//  4. optimizeAtOpen runs PRAGMA optimize=0x10002 (W6).
	//  5. startCheckpointer starts the background checkpoint (W5) of a
	//     read-write store, unless Options.ExternalCheckpoints.
	//
	// A failed step closes what the steps before it opened.
	o, err := o.withDefaults(path)
	if err != nil {
		return nil, err
	}
	if err := prepareFile(path, o); err != nil {
		return nil, err
	}
	s := &Store{}
	o.watch = &s.file
	s.opts = o
	if err := s.openPools(ctx, path); err != nil {
		s.closePools()
		return nil, err
	}
	s.file.start(s.path)
	s.reads.init(s, s.readers, nil)
	s.vindex = newVectorIndex(s.path, o, s.search, s.writer)
	if err := s.migrate(ctx); err != nil {
		s.closePools()
		return nil, err
	}
	if o.ReadOnly {
		return s, nil
	}
	if err := s.optimizeAtOpen(ctx); err != nil {
		s.closePools()
		return nil, err
	}
	if s.ckptDB != nil {
		if s.ckpt, err = startCheckpointer(s.path, s.ckptDB, o.Logger, func() error { return s.file.verify(s.path) }); err != nil {
			s.closePools()
			return nil, err
		}
	}
	return s, nil
}

// optimizeAtOpen runs PRAGMA optimize=0x10002 on the writer (W6). It is
// housekeeping: when it cannot run (another connection held the write
// lock past the busy timeout, a full disk) the store is still usable, so
// it is skipped with a warning instead of failing the open. Only a
// cancelled ctx fails it.
func (s *Store) optimizeAtOpen(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("resonance: open %q: %w", s.path, ctx.Err())
		}
		s.opts.Logger.Warn("resonance: PRAGMA optimize at open skipped", "db", s.path, "err", classify(err))
	}
	return nil
}

// openPools opens the store's pools: the writer (one connection, which
// connects here), the readers, the vector index's search pool (query_only
// like the readers, but apart, so that searches and Reads never wait for
// each other's connections), and on a read-write store without
// ExternalCheckpoints the background checkpoint's one connection, which
// startCheckpointer connects. Every connection is hardened by its pool's
// connector (C1–C8). On an error, closePools closes what was opened.
func (s *Store) openPools(ctx context.Context, path string) error {
	o := s.opts
	txlock := "immediate"
	if o.ReadOnly {
		txlock = "deferred"
	}
	wc, err := newStoreWriterConnector(path, o, txlock)
	if err != nil {
		return err
	}
	s.path = wc.path
	s.writer = oneConnPool(wc)
	if err := s.writer.PingContext(ctx); err != nil {
		return err
	}
	if s.readers, err = queryOnlyPool(s.path, o); err != nil {
		return err
	}
	if s.search, err = queryOnlyPool(s.path, o); err != nil {
		return err
	}
	if !o.ReadOnly && !o.ExternalCheckpoints {
		// It never creates the file: see startCheckpointer.
		co := o
		co.Create = false
		c, err := newConnector(s.path, co, "deferred")
		if err != nil {
			return err
		}
		s.ckptDB = oneConnPool(c)
	}
	return nil
}

// queryOnlyPool is a pool of up to o.MaxReaders query_only connections,
// whose transactions begin DEFERRED.
func queryOnlyPool(path string, o Options) (*sql.DB, error) {
	o.ReadOnly, o.Create = true, false
	c, err := newConnector(path, o, "deferred")
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(o.MaxReaders)
	db.SetMaxIdleConns(o.MaxReaders)
	return db, nil
}

// oneConnPool is a pool of one connection, kept open for the store's life.
func oneConnPool(c driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	return db
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// DB returns the writer pool, for raw access (the seed's getRawDb). Its one
// connection is hardened like every other; statements on it wait for any
// running Tx. Do not change its pool settings or run PRAGMAs on it: use
// Options instead.
func (s *Store) DB() *sql.DB { return s.writer }

// ReadDB returns the pool of query_only connections that Read uses.
func (s *Store) ReadDB() *sql.DB { return s.readers }

// Reads returns the ReadTx of the store's reads outside a transaction, for
// a single read: each of its reads runs its statement on the reader pool,
// as it comes, without the BEGIN and COMMIT of Read. A statement sees what
// was committed when it began, so two reads through it may see different
// commits; use Read for several reads on one snapshot. Its SQL methods
// run on ReadDB. Unlike a transaction's, it is safe for concurrent use and
// never ends; after Close its reads return ErrClosed.
func (s *Store) Reads() *ReadTx { return &s.reads }

// LongTransactions counts the transactions that stayed open longer than
// half the busy timeout (W8): a write one could make other writers time
// out, a read one holds up checkpoints.
func (s *Store) LongTransactions() int64 { return s.longTx.Load() }

// Health checks the writer connection's settings and performs a write/read
// probe (C9), as CheckHealth does, and checks that the tables, columns,
// indexes and triggers the library's migrations create are still there: an
// application's migration may have dropped or renamed one. Without a
// ConnectHook (which may make them on purpose), a TEMP trigger or an
// attached database on the writer is a problem too: it would act on every
// later write.
func (s *Store) Health(ctx context.Context) (Health, error) {
	if s.closed.Load() {
		return Health{}, fmt.Errorf("resonance: health %q: %w", s.path, ErrClosed)
	}
	conn, err := s.writerConn(ctx, "health")
	if err != nil {
		return Health{}, err
	}
	defer conn.Close()
	h, err := checkHealth(ctx, conn)
	if err != nil && len(h.Problems) == 0 {
		return h, err // the check could not run
	}
	missing, serr := schemaProblems(ctx, conn)
	if serr != nil {
		return h, fmt.Errorf("resonance: health: reading the schema: %w", classify(serr))
	}
	if len(missing) > 0 {
		h.Problems = append(h.Problems, missing...)
		err = fmt.Errorf("resonance: health: unhealthy: %s; the library's migrations create what is missing: "+
			"a migration of the application's dropped or changed it; undo that with another migration, or restore a backup", strings.Join(h.Problems, "; "))
	}
	if s.opts.ConnectHook == nil { // a hook may make such state on purpose
		left, lerr := connectionLeftovers(ctx, conn)
		if lerr != nil {
			return h, fmt.Errorf("resonance: health: reading the writer's temp schema: %w", classify(lerr))
		}
		if len(left) > 0 {
			h.Problems = append(h.Problems, left...)
			err = errors.Join(err, fmt.Errorf("resonance: health: unhealthy: %s: the writer keeps them for every later write; they were made through Store.DB(): close the store and open it again",
				strings.Join(left, "; ")))
		}
	}
	return h, err
}

// connectionLeftovers names the TEMP triggers and the attached databases
// on conn: neither the store nor its migrations leave any on its writer,
// and a TEMP trigger there would run on every write the store makes.
func connectionLeftovers(ctx context.Context, conn *sql.Conn) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT 'TEMP trigger ' || quote(name) FROM temp.sqlite_schema WHERE type = 'trigger'
		UNION ALL SELECT 'attached database ' || quote(name) FROM pragma_database_list WHERE name NOT IN ('main', 'temp')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var what string
		if err := rows.Scan(&what); err != nil {
			return nil, err
		}
		left = append(left, "C7 the writer connection carries a "+what)
	}
	return left, rows.Err()
}

// Close runs PRAGMA optimize on the writer, closes every connection and
// leaves a database that passes integrity_check (W6). When connections were
// still checked out (an unfinished Rows, a leaked Conn or ExplicitTx), Close
// still closes the store and returns an error wrapping ErrLeakedConnections
// that says how many (O4). Closing twice returns the first result. Close
// first waits for the snapshot of the search copy that a read-write store
// may be writing in the background (see SearchByVector).
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.file.check(s.path, s.opts.Logger)
		s.stopVectorSnapshot()
		var errs []error
		leaked := s.writer.Stats().InUse
		if s.readers != nil {
			leaked += s.readers.Stats().InUse
		}
		if leaked > 0 {
			errs = append(errs, fmt.Errorf("resonance: close %q: %w: %d connection(s) were still in use (unclosed Rows, Conn or ExplicitTx)", s.path, ErrLeakedConnections, leaked))
		} else if !s.opts.ReadOnly {
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.BusyTimeout)
			// Like the optimize at Open, this is housekeeping: when it cannot
			// run (the write lock stayed busy, a full disk), skip it rather
			// than fail a Close that closes every connection anyway.
			if _, err := s.writer.ExecContext(ctx, "PRAGMA optimize"); err != nil {
				s.opts.Logger.Warn("resonance: PRAGMA optimize skipped at close", "db", s.path, "err", classify(err))
			}
			cancel()
		}
		if err := s.closePools(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// closePools stops the checkpoint goroutine, drops the vector index's
// copy and closes the pools openPools opened, the writer last: as the last
// connection, SQLite then checkpoints and removes the WAL on its close.
func (s *Store) closePools() error {
	var errs []error
	if s.ckpt != nil {
		s.ckpt.stop()
	}
	if s.vindex != nil {
		s.vindex.drop()
	}
	for _, p := range []struct {
		what string
		pool *sql.DB
	}{{"vector index", s.search}, {"checkpointer", s.ckptDB}, {"readers", s.readers}, {"writer", s.writer}} {
		if p.pool == nil {
			continue
		}
		if err := p.pool.Close(); err != nil {
			errs = append(errs, fmt.Errorf("resonance: close %q %s: %w", s.path, p.what, err))
		}
	}
	s.file.stop()
	return errors.Join(errs...)
}

// Checkpoint is the result of a WAL checkpoint (W5).
type Checkpoint struct {
	// Busy is true when the checkpoint could not run to completion because
	// readers or writers were using the WAL; the result is partial.
	Busy bool `json:"busy"`
	// LogFrames is the number of frames in the WAL before the checkpoint.
	LogFrames int64 `json:"log_frames"`
	// Checkpointed is the number of those frames copied into the database.
	Checkpointed int64 `json:"checkpointed_frames"`
	// WALBytes is the size of the -wal file afterwards: 0 after a complete
	// TRUNCATE checkpoint.
	WALBytes int64 `json:"wal_bytes"`
	// OtherCheckpoint is true when another connection (another process, or
	// a replicator such as Litestream) was running a checkpoint all the
	// while: this one copied nothing, and the frame counts are those SQLite
	// reported before it gave up, or 0 when it reported none.
	OtherCheckpoint bool `json:"other_checkpoint"`
}

// checkpointWait bounds how long Store.Checkpoint, holding the write lock,
// waits for readers to leave the WAL and for another connection's
// checkpoint to end, before it reports a partial checkpoint (W5). It is cut
// to half the busy timeout when that is shorter.
const checkpointWait = 200 * time.Millisecond

// Checkpoint copies the WAL into the database and resets it, and reports
// the result (W5): PASSIVE first, then TRUNCATE on the writer, which waits
// for open readers at most checkpointWait, not the whole busy timeout.
//
// A busy checkpoint is not an error: Busy is set and the frame counts say
// how far it got; OtherCheckpoint says another connection's checkpoint
// kept this one from running. On a store opened with ExternalCheckpoints
// it returns ErrCheckpointsDisabled and does nothing.
func (s *Store) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if s.opts.ExternalCheckpoints {
		return Checkpoint{}, fmt.Errorf("resonance: checkpoint %q: %w (Options.ExternalCheckpoints)", s.path, ErrCheckpointsDisabled)
	}
	if s.closed.Load() {
		return Checkpoint{}, fmt.Errorf("resonance: checkpoint %q: %w", s.path, ErrClosed)
	}
	if err := s.notNested(ctx, "checkpoint"); err != nil {
		return Checkpoint{}, err
	}
	start := time.Now()
	wait := min(checkpointWait, s.opts.BusyTimeout/2)
	// A read-only store has no checkpointer: both steps run on its one
	// writer connection, one after the other.
	passivePool := s.writer
	if s.ckpt != nil {
		s.ckpt.mu.Lock()
		defer s.ckpt.mu.Unlock()
		passivePool = s.ckptDB
	}
	passive, err := s.walCheckpoint(ctx, passivePool, "PASSIVE", 0, start.Add(wait))
	if err != nil {
		return Checkpoint{}, err
	}
	trunc, err := s.walCheckpoint(ctx, s.writer, "TRUNCATE", wait, start.Add(wait))
	if err != nil {
		return Checkpoint{}, err
	}
	var cp Checkpoint
	switch {
	case trunc.busy == 0: // every frame, including any written in between, is in the database now
		cp.LogFrames = max(trunc.log, passive.log, 0)
		cp.Checkpointed = cp.LogFrames
	case trunc.log < 0: // SQLite's -1: another connection held the checkpoint lock
		cp.Busy, cp.OtherCheckpoint = true, true
		cp.LogFrames, cp.Checkpointed = max(passive.log, 0), max(passive.done, 0)
	default:
		cp.Busy = true
		cp.LogFrames, cp.Checkpointed = trunc.log, trunc.done
	}
	cp.WALBytes = fileSize(s.path + "-wal")
	s.opts.Logger.Info("resonance: checkpoint", "db", s.path, "busy", cp.Busy, "log_frames", cp.LogFrames,
		"checkpointed", cp.Checkpointed, "other_checkpoint", cp.OtherCheckpoint, "wal_bytes", cp.WALBytes, "took", time.Since(start))
	return cp, nil
}

// walResult is the row of PRAGMA wal_checkpoint.
type walResult struct{ busy, log, done int64 }

// walCheckpoint runs PRAGMA wal_checkpoint(mode) on a connection of pool.
// A wait above zero replaces the connection's busy timeout; the pool
// then replaces the connection (C7). SQLite does not wait for another
// connection's checkpoint (it answers busy with -1 frames at once), so
// that is retried until the deadline.
func (s *Store) walCheckpoint(ctx context.Context, pool *sql.DB, mode string, wait time.Duration, deadline time.Time) (walResult, error) {
	fail := func(err error) (walResult, error) {
		return walResult{}, fmt.Errorf("resonance: checkpoint %q: wal_checkpoint(%s): %w", s.path, mode, classify(err))
	}
	// A checkpoint writes into the database file: it looks at the file
	// first, however recent the last look, so that the store's own
	// checkpoint never writes the WAL into a copy made over the file, nor
	// makes such a copy look like its own writes (fileid.go).
	if err := s.file.verify(s.path); err != nil {
		return walResult{}, fmt.Errorf("resonance: checkpoint %q: %w", s.path, err)
	}
	conn, err := s.acquire(ctx, pool, "checkpoint")
	if err != nil {
		return walResult{}, err
	}
	defer conn.Close()
	if wait > 0 {
		// The changed setting has the connection discarded when it goes
		// back to its pool (C7).
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
			return fail(err)
		}
	}
	for {
		var r walResult
		if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&r.busy, &r.log, &r.done); err != nil {
			return fail(err)
		}
		if r.log >= 0 || !time.Now().Before(deadline) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
