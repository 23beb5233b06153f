// Package resonance owns a SQLite database holding a Resonance Graph: nodes
// with optional embeddings, typed edges between them, and an audit history
// of every change. Its core is connection management that holds on every
// connection, across goroutines and processes.
//
// # Connections
//
// Every connection the package hands out, including each one database/sql
// opens later in a pool, is hardened by a connector before it is used:
// busy_timeout first (default 5s), journal_mode WAL (set only when the file
// is not in WAL already), synchronous NORMAL, mmap_size 0, temp_store
// MEMORY, foreign_keys ON, each read back. A connection whose settings do
// not read back is closed and never handed out. Connect returns such a
// pool for callers that want only the connector, and CheckHealth verifies
// one.
//
// Read-only is behavioural: files are always opened read-write (a WAL reader
// must be able to write the -shm file) and PRAGMA query_only refuses writes
// with ErrReadOnly.
//
// # Transactions
//
// A Store has one writer connection and a pool of query_only readers.
// Store.Tx runs a function in a write transaction that begins IMMEDIATE, so
// a second writer waits for the lock (up to the busy timeout) instead of
// failing on a lock upgrade that busy_timeout cannot help with. It commits
// when the function returns nil and rolls back on an error, a panic (which
// continues) or a cancelled context. Store.Read runs a function on one
// consistent snapshot on a reader connection; many Reads run beside the
// writer.
//
// The function gets the transaction's context and a handle: a *Tx for
// Store.Tx, a *ReadTx for Store.Read. A ReadTx has the graph reads and the
// SQL methods of sqlc's DBTX, so generated queries run on it; a
// Tx has all of that plus the graph writes, so a graph write inside Read
// does not compile. Neither has Commit or Rollback: the function decides by
// its return. A handle is dead once its function returns: every later call
// fails with sql.ErrTxDone and writes nothing.
//
// The context marks the transaction: a call that needs the writer (Tx,
// Begin, Checkpoint, maintenance) made with it, or with a context derived
// from it (in goroutines the function starts, too), returns ErrNestedTx at
// once, since the transaction holds the writer it would wait for. Write
// through the *Tx instead. No write waits for this process's writer longer
// than the busy timeout: one that cannot be recognised as nested ends with
// ErrBusy.
//
// Which to reach for:
//
//   - Store.Tx for every write, Store.Read for several reads on one
//     snapshot.
//   - The Store's read methods (GetNode, GetNodes, NodeHash, OutgoingEdges,
//     OutgoingEdgesOf, IncomingEdges, Lexicon, History, Neighbourhood) for
//     a single read: each is the ReadTx method of the same name, run as one
//     statement on a reader without a transaction of its own.
//     Store.SearchByVector answers from its copy of the embeddings (below).
//     The graph writes are on Tx only.
//   - Store.Begin only for code that cannot be a function: the same
//     transaction as Tx, ended by Commit or Rollback.
//   - Store.DB (the writer) and Store.ReadDB (the readers) are the hardened
//     pools, for tools that need a *sql.DB; statements on DB outside a Tx
//     run one by one, and wait for any running Tx.
//   - Connect, without a Store, for a program that opens a hardened
//     connection per request: no migrations, no background checkpoints.
//
// # The graph
//
// Nodes, edges and history follow the original's tables (rules D1–D13).
// Every write of a Tx — UpsertNode, InsertEdge, UpsertSemanticEdge,
// UpdateNodeMeta, UpdateNodeDate, DeleteNodes, DeleteEdge — adds one
// history row per row it changes, in the same transaction; ReadTx.History
// reads them back. DeleteNodes removes nodes with every edge that touches
// them. ReadTx.Neighbourhood walks the edges from a node, to depth 6, in
// one statement. UpsertNodes and InsertEdges write many nodes or edges with
// up to 32 rows per statement, history rows included; UpsertNode and
// InsertEdge are those with one. Each operation is written once, on
// ReadTx or Tx. Bad input (an empty id or type, meta that is not a JSON
// object, NaN or ±Inf in an embedding) is refused with ErrInvalid before
// any SQL runs, so nothing is written, not even history. Embeddings
// are stored as little-endian float32 bytes and come back bit for bit; meta
// stays raw JSON. GenerateID, Normalize and Dot are the original's helpers;
// GenerateID gives the original's id for every path (D7).
//
// # Databases made by the original
//
// A read-write Open of a database the original created (its drizzle
// migrations, recorded in __drizzle_migrations) recognises it by its exact
// shape, writes a backup, and converts it in one IMMEDIATE transaction to
// this schema, keeping every row of nodes, edges, history and ember_state;
// the migrations are then recorded as applied (X1). InspectOriginal says
// beforehand what it found and changes nothing. A database that resembles
// the original's but differs is refused with ErrSchemaMismatch naming each
// difference, and a read-only Open never converts (X2).
//
// # Search by vector
//
// SearchByVector (D10) returns the nodes whose embeddings score highest
// against a query vector, with the original's scores, order and ties. The
// Store answers from a compact copy of the embeddings in memory (a byte per
// float, bounded by Options.VectorCacheBytes), read whole by its first
// search and then caught up, after a commit by any process, by the rows
// that changed; a Tx searches its own snapshot.
//
// # Maintenance
//
// Store.Checkpoint, Vacuum, Analyze, Optimize, IntegrityCheck,
// IncrementalVacuum and Backup (a consistent copy while writers keep
// writing) cover operations; Open writes a backup before it migrates a
// database that holds data, keeping the newest seven.
//
// A read-write store checkpoints on its own: once about 1,000 WAL frames
// wait to be copied into the database, a goroutine with a connection of its own
// runs a PASSIVE checkpoint, which neither the writer nor the readers wait
// for, so commits do not pay for it. Options.ExternalCheckpoints turns
// this off for a replicator such as Litestream.
//
// # Applications
//
// An application adds tables of its own with Options.Migrations: dbmate
// files applied together with the embedded ones, under the same rules
// (exactly once across processes, nothing partial, a backup first); a
// version that collides with one of the library's is refused. Its sqlc-generated
// queries run on a *Tx or a *ReadTx, which have the methods of sqlc's
// DBTX, beside the graph API in the same transaction; `resonance schema
// DIR` writes the embedded migrations where its sqlc.yaml reads them. Options.ConnectHook
// registers its functions, collations or extensions on every connection
// after hardening, and every setting is read back after the hook.
//
// # Concurrency
//
// Open one Store per database file per process and share it between
// goroutines. Several processes may open the same file: SQLite's locks
// serialise writers, busy_timeout makes them wait for each other, and
// migrations are applied exactly once. A transaction open longer than half
// the busy timeout is logged and counted (Store.LongTransactions), because it makes
// other writers wait.
//
// With synchronous = NORMAL in WAL mode a committed transaction survives a
// crash of the process, but a power loss or OS crash may drop the newest
// commits (never corrupt the database). Every connection the package hands out keeps NORMAL
// (C3): a connection on which a setting was changed is checked and replaced
// before it is used again (C7), so a program that needs FULL opens its own
// connection without the connector.
//
// # Errors
//
// Errors are wrapped around a few sentinels, tested with errors.Is:
// ErrNotFound, ErrReadOnly, ErrBusy, ErrSchemaMismatch, ErrNestedTx,
// ErrClosed, ErrInvalid, ErrCheckpointsDisabled, ErrLeakedConnections.
// Driver errors are translated from SQLite's result codes in one place,
// and stay in the chain for errors.As. Messages read "resonance: <op>
// <file>: <cause>" and, for setup problems, say what to do.
package resonance
