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
// Store.Tx, a *ReadTx for Store.Read, which has the graph reads and the SQL
// methods of sqlc's DBTX; a Tx adds the graph writes. The function's return
// decides commit or rollback.
//
// Which to reach for:
//
//   - Store.Tx for every write, Store.Read for several reads on one
//     snapshot.
//   - Store.Reads for a single read: the same ReadTx methods outside a
//     transaction, each one statement on a reader, with no BEGIN or COMMIT.
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
// Every write of a Tx adds one history row per row it changes, in the same
// transaction. Bad input is refused with ErrInvalid before any SQL runs, so
// nothing is written, not even history.
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
// # Maintenance
//
// A read-write store checkpoints on its own, in the background, once about
// 1,000 WAL frames wait; Options.ExternalCheckpoints leaves it to a
// replicator such as Litestream.
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
package resonance
