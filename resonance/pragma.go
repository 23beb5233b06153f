package resonance

import (
	"strconv"
	"strings"
)

// pragma is one setting every connection must carry: the statement that
// applies it and the value that must be read back. Why each is there is
// said beside it in requiredPragmas and in its rule.
type pragma struct {
	rule   string // rule ID (RULES.md), named in errors
	name   string // PRAGMA name
	value  string // value to set
	expect string // value PRAGMA name must return afterwards
	// dsn is the go-sqlite3 DSN parameter that applies the setting inside
	// the driver's Open, before the connect hook runs; empty when the hook
	// sets it. The hook reads every setting back either way.
	dsn string
	// answers is true when "PRAGMA name = value" itself returns the value
	// in effect, so one statement both sets and reads back.
	answers bool
}

// requiredPragmas returns the settings the connector applies to every new
// connection, in the order it applies them. busy_timeout comes first so that
// nothing after it can fail on a lock; journal_mode is handled separately
// (read first, set only when not WAL, C2) and sits right after it.
// storeWriter is true for the writer connection of a read-write Store,
// which also gets the page cache and checkpoint settings of the P workloads.
func requiredPragmas(o Options, storeWriter bool) []pragma {
	ms := strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)
	ps := []pragma{
		// Wait for locks instead of failing with SQLITE_BUSY; set before
		// anything can take a lock.
		{"C1", "busy_timeout", ms, ms, "_busy_timeout", true},
		// In WAL mode NORMAL survives a crash of the process without an
		// fsync per commit.
		{"C3", "synchronous", "NORMAL", "1", "_synchronous", false},
		// No memory-mapped I/O: an I/O error on a mapped page kills the
		// process instead of returning an error.
		{"C4", "mmap_size", "0", "0", "", true},
		// Temporary tables and indices live in memory, not in files beside
		// the database.
		{"C5", "temp_store", "MEMORY", "2", "", false},
		{"C6", "foreign_keys", "ON", "1", "_foreign_keys", false},
	}
	// Page cache and checkpoints (rule P), for a store's writer only: it is
	// the one long-lived connection that writes, so the memory is bounded
	// per store.
	//
	// Connect's connections keep SQLite's defaults: one opened per request
	// never warms a cache, and each setting with its read-back costs every
	// open. A store's readers keep the default cache too: a larger one per
	// reader helped the scans only once it held the whole nodes table, a
	// cost per reader that grows with the data. The README's performance
	// section gives the measurements behind these choices.
	if storeWriter {
		// 8 MiB (SQLite's default is 2 MiB; negative is in KiB, whatever
		// the page size): the index pages a write transaction touches stay
		// in memory.
		ps = append(ps, pragma{"P", "cache_size", "-8192", "-8192", "_cache_size", false})
	}
	switch {
	case o.ExternalCheckpoints:
		// An external replicator (Litestream) owns checkpoints.
		ps = append(ps, pragma{"W5", "wal_autocheckpoint", "0", "0", "", true})
	case storeWriter:
		// A read-write store checkpoints from a goroutine with its own
		// connection (checkpointer.go); the writer's own checkpoint at
		// 4,000 pages bounds the -wal file for writes outside Store.Tx and
		// for when that goroutine falls behind.
		ps = append(ps, pragma{"P", "wal_autocheckpoint", "4000", "4000", "", true})
	}
	if o.ReadOnly {
		// Behavioural read-only: the file stays writable for -shm, writes
		// are refused.
		ps = append(ps, pragma{"C8", "query_only", "ON", "1", "", false})
	}
	return ps
}

// hardenPlan is the statements the connect hook runs, built once per
// connector so that opening a connection formats nothing.
//
// Every setting is read back with a plain PRAGMA statement: the
// table-valued pragma_NAME functions would read several in one SELECT, but
// each of them declares a virtual table (parsing a CREATE TABLE) on every
// new connection, which cost more than the whole rest of the hook.
type hardenPlan struct {
	// set applies, in one multi-statement exec, the settings that neither
	// the DSN nor their own read-back statement applies.
	set string
	// check[i] sets (answers) or reads pragma i; its single value must be
	// pragmas[i].expect.
	check []string
}

func newHardenPlan(ps []pragma) hardenPlan {
	var hp hardenPlan
	var set strings.Builder
	hp.check = make([]string, len(ps))
	for i, p := range ps {
		switch {
		case p.answers:
			hp.check[i] = "PRAGMA " + p.name + " = " + p.value
		default:
			hp.check[i] = "PRAGMA " + p.name
		}
		if p.dsn == "" && !p.answers {
			set.WriteString("PRAGMA " + p.name + " = " + p.value + ";")
		}
	}
	hp.set = set.String()
	return hp
}

// dsnValue is the value of p's DSN parameter: go-sqlite3 takes the same
// words as the PRAGMA.
func (p pragma) dsnValue() string { return p.value }
