// Package conformance proves every rule of sections C, W, T, M, A and X of
// RULES.md on real database files and real processes, and offers the
// non-destructive part of those checks for a user's own database
// (CheckDatabase, CheckPermissions), which `resonance doctor` calls.
//
// Each test starts with the rule it proves and asserts behaviour, not only a
// setting; every failure message names the rule. Where a test could pass
// without proving anything, a control shows the probe can fail: a plain
// go-sqlite3 connection that lacks the setting is caught by the same probe.
//
//	rule  tests                                            what is proved
//	----  -----------------------------------------------  -----------------------------------------------------------------
//	C1    TestC1_BusyTimeoutFirst                          TraceConnect: busy_timeout is the first statement on every new
//	                                                       connection (8 held at once, pool replacements, store pools)
//	      TestC1_WaitsForLockHeldByAnotherProcess          a child process holds every lock (locking_mode EXCLUSIVE): Connect
//	                                                       and Open wait and succeed; control with _busy_timeout=0 gets BUSY
//	      TestC1_PerRequestConnectionsAcrossProcesses      3 processes open/write/close per request at once (last-close
//	                                                       checkpoint) and right after a kill -9 (recovery): no error;
//	                                                       control without busy timeout fails with SQLITE_BUSY
//	C2    TestC2_JournalModeReadBeforeSet                  journal_mode read before set; fresh and rollback-journal files
//	                                                       become WAL; a WAL file opens without setting it, at once, while
//	                                                       another process holds the write lock
//	C3    TestC3_SynchronousNormal                         NORMAL on every connection; strace of a child: 40 commits make
//	                                                       no fsync per commit (control with FULL makes >= 40)
//	C4    TestC4_NoMemoryMappedIO                          after reads through writer, readers and Connect, the file is not
//	                                                       in /proc/self/maps; control with mmap_size 1 MiB maps it
//	C5    TestC5_TempStoreInMemory                         a 6 MB temp table (writer) and an 8 MB sort (reader) open no
//	                                                       temporary file; control with temp_store FILE opens them
//	C6    TestC6_ForeignKeysEnforced                       an orphan row is refused on 8 pooled, replaced and store
//	                                                       connections; a plain connection accepts it
//	C7    TestC7_EveryConnectionHardened                   16 held at once, replaced ones (SetConnMaxLifetime), 8 store
//	                                                       readers and the writer each read back every setting
//	      TestC7_HookErrorFailsConnection                  when the settings cannot be applied the connection is refused
//	                                                       with ErrBusy, never handed out; the pool recovers
//	C8    TestC8_ReadOnlyIsBehavioural                     read-only connections hold the file O_RDWR (control: mode=ro is
//	                                                       O_RDONLY); writes via Tx, Read, DB() and Connect wrap ErrReadOnly
//	C9    TestC9_HealthCheck                               healthy/wal report; _health keeps its 10 newest rows; read-only
//	                                                       skips the probe; changed settings are named C3 C4 C5 C6
//	C10   TestC10_MissingPathRefused                       error names the path and Options.Create (the CLI: init);   nothing
//	                                                       is created unless Create
//	C11   TestC11_BadSettingsRefusedBeforeDisk             negative or sub-millisecond busy timeout, empty path, directory,
//	                                                       negative MaxReaders refused before the disk is touched; 0 = 5000
//	W1    TestW1_WALIsThreeFiles                           db, -wal and -shm while open; only the db after the last close
//	      TestW1_UnprivilegedUserNeedsDirectoryAndShm      as uid 65534: works with a writable directory (creates and removes
//	                                                       -wal/-shm); CheckPermissions names the unwritable directory or
//	                                                       -shm and the fix; world-writable files flagged
//	W2    TestW2_ReadonlyTrap                              as uid 65534 in a directory it cannot write: reads while another
//	                                                       process holds the db open; cannot open once it closed ("attempt
//	                                                       to write a readonly database"); the connector's error wraps
//	                                                       ErrReadOnly and names the directory, -shm and chmod
//	      TestW2_ModeRoReaderDoesNotCorrupt                the seed's folklore: a mode=ro reader process beside commits and
//	                                                       checkpoints reads without error; integrity_check ok
//	W3    TestW3_ReadersSeeSnapshotDuringWrite             a write transaction held in one process: 4 goroutines and a
//	                                                       reader process read the committed snapshot at once; and reversed
//	W4    TestW4_TwoWriterProcessesFourReaders             2 writer processes (Store.Tx, read then write) + 4 Read goroutines
//	                                                       for 2.5s: zero busy errors, every committed row present
//	      TestW4_DeferredControlGetsBusy                   the same transactions with plain deferred BEGIN get SQLITE_BUSY
//	W5    TestW5_CheckpointTruncate                        complete TRUNCATE: frames reported, -wal 0 bytes; blocked by a
//	                                                       reader: Busy with partial counts, no error
//	      TestW5_ExternalCheckpointsLeaveWALToReplicator   wal_autocheckpoint 0 on every connection; 1.5× a normal store's
//	                                                       autocheckpoint of writes never reach the db file; Checkpoint
//	                                                       refused; Close leaves the WAL
//	W6    TestW6_OptimizeAndCleanClose                     optimize=0x10002 at Open analyzes; optimize at Close refreshes
//	                                                       stats; no connection left; integrity ok; busy optimize skipped
//	W7    TestW7_CommittedSurvivesKill9                    5 random SIGKILLs of a committing child: every printed commit
//	                                                       present, at most one more, none partial; integrity ok
//	W8    TestW8_LongTransactionReported                   write, read and explicit transactions over half the busy timeout
//	                                                       are logged (WARN) and counted; a short one is not
//	T1    TestT1_TxCommitsOrRollsBack                      write lock taken before fn's first statement; commit on nil;
//	                                                       rollback on error, panic (re-raised), cancel and deadline; a
//	                                                       failed rollback is reported
//	T2    TestT2_NestedTxRefused                           Tx and Begin inside Tx, Tx inside ExplicitTx: ErrNestedTx, the
//	                                                       outer work is not committed by them
//	T3    TestT3_ReadSnapshotOnReadOnlyConnections         one snapshot across a concurrent commit; query_only; 4 Reads at
//	                                                       once beside an open write transaction
//	T4    TestT4_ExplicitTransactions                      Begin is IMMEDIATE; Commit keeps, Rollback discards; nesting
//	                                                       refused; long ones counted; a leaked one reported by Close
//	M1    TestM1_EmbeddedMigrationsAppliedAtOpen           schema/ embedded and applied before Open returns, recorded in
//	                                                       schema_migrations, nothing on reopen, from any directory
//	      TestM1_DbmateCLIAgrees                           dbmate CLI (DBMATE_BIN or built from tools/dbmate): status lists
//	                                                       all applied, up does nothing; the library accepts dbmate's db
//	M2    TestM2_ConcurrentFirstOpenAppliesOnce            3 processes open a fresh db at the same moment, 4 rounds: all
//	                                                       succeed, each migration applied exactly once
//	M3    TestM3_FailingMigrationChangesNothing            a migration failing half-way leaves the db exactly at the
//	                                                       previous version (compared with a reference database)
//	M4    TestM4_UnknownVersionRefused                     newer and unknown older versions: ErrSchemaMismatch, file byte
//	                                                       for byte unchanged; read-only with pending migrations refused
//	M5    TestM5_SqlcReadsTheSameSchema                    sqlc.yaml reads schema/, the embedded files; db/ equals sqlc's
//	                                                       output and a stale db/ is caught (with bin/sqlc or SQLC_BIN)
//	M6    TestM6_BackupBeforeMigratingData                 backup in backups/ before migrating data, newest 7 kept,
//	                                                       consistent and openable; none for an empty database
//	A1    TestA1_ConcurrentFirstOpenAppliesApplicationMigrationsOnce
//	                                                       3 processes open a fresh db with an application's migration
//	                                                       directory, 2 rounds: each of the library's and the app's
//	                                                       migrations applied once
//	      TestA1_ApplicationMigrationsUnderTheMRules       an app migration added later: backup first (M6); a failing one
//	                                                       changes nothing (M3); a version colliding with the library's
//	                                                       refused naming both files
//	A2    TestA2_CheckDatabaseSeesApplicationMigrations    CheckDatabase passes given the app's migrations; without them
//	                                                       M4 fails naming --migrations
//	      TestA2_DbmateCLIAgreesWithBothDirectories        dbmate CLI given schema/ and the app's directory agrees with
//	                                                       the library, both ways
//	A4    TestA4_ConnectHookOnEveryConnection              the hook's function on 6 connections held at once and on those
//	                                                       the pool replaces; a hook setting mmap_size fails naming C4
//	X1    TestX1_AdoptedDatabaseAgreesWithDbmate           after the adoption of an original's database, dbmate status
//	                                                       lists every migration applied; CheckDatabase passes
//	X2    TestX2_KillDuringAdoptionLeavesTheOriginal       SIGKILL inside the conversion of an original's database, after
//	                                                       every row is copied (pages spilled into the WAL), before the
//	                                                       commit: the file is byte for byte unchanged, still the
//	                                                       original's with every row; the next open converts it
//	      TestX2_KillAtAnyMomentOfAdoption                 5 SIGKILLs at random moments of an adoption (backup,
//	                                                       conversion, after): always the original's or converted, each
//	                                                       with every row, never in between
//
// TestCheckDatabase_HealthyDatabaseUnchanged and TestCheckDatabase_FindsProblems
// cover CheckDatabase itself.
//
// # Processes and users
//
// Rules about processes (C1, C2, C3, W2, W3, W4, W7, M1, M2, X2) run real child
// processes: the test binary re-executes itself with
// -test.run=^TestHelperProcess$ and RESONANCE_CONFORMANCE_CHILD=role. The
// permission rules (W1, W2) run their child as uid/gid 65534 (nobody) when
// the suite runs as root, since root ignores permission bits; the test
// binary is copied to a world-readable directory for it. Run as an ordinary
// user, the child runs as that user and the directories are made
// unwritable for it instead. C3's fsync count needs strace; without it that
// subtest is skipped and the setting is still checked.
//
// # What SQLite really does (3.54, recorded by the suite)
//
//   - W2: the readonly trap is real. A user that cannot write the directory
//     reads a WAL database through the connector, mode=rw and mode=ro while
//     another process keeps -shm alive, and gets "attempt to write a
//     readonly database" from all three once the last process closed it.
//   - W2: the seed's claim that a read-only connection corrupts the
//     database is folklore: a mode=ro reader in another process reads
//     thousands of times beside commits and checkpoints without an error,
//     and integrity_check stays ok.
//   - W1: a user who cannot write an existing -shm (but can write the
//     directory) still reads while the owner's process keeps it open:
//     SQLite (3.22 and later) then uses the -shm read-only. CheckPermissions
//     reports it all the same, since that user's writes would fail.
//   - C2: PRAGMA journal_mode = WAL on a database already in WAL takes no
//     lock in this SQLite, so the order is proved by the trace; the timing
//     check guards against a connector that needs the write lock.
//   - W6: every PRAGMA optimize, even with nothing to analyze, takes the
//     write lock.
//   - W7: with synchronous = NORMAL a power loss may drop the newest
//     commits (never corrupt the database); only process crashes can be
//     tested here.
package conformance
