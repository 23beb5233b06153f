package resonance

import (
	"fmt"
	"strconv"
	"strings"
)

// pragma is one setting every connection must carry: the statement that
// applies it, the value that must be read back, and why it is there.
type pragma struct {
	rule   string // SPEC rule ID, named in errors
	name   string // PRAGMA name
	value  string // value to set
	expect string // value PRAGMA name must return afterwards
	reason string
}

// readableAsFunction reports whether SQLite offers the pragma as a
// table-valued function (pragma_NAME), so several can be read in one SELECT.
// mmap_size and wal_autocheckpoint are not among them.
func (p pragma) readableAsFunction() bool {
	return p.name != "mmap_size" && p.name != "wal_autocheckpoint"
}

// requiredPragmas returns the settings the connector applies to every new
// connection, in the order it applies them. busy_timeout comes first so that
// nothing after it can fail on a lock; journal_mode is handled separately
// (read first, set only when not WAL, C2) and sits right after it.
func requiredPragmas(o Options) []pragma {
	ms := strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)
	ps := []pragma{
		{"C1", "busy_timeout", ms, ms,
			"wait for locks instead of failing with SQLITE_BUSY; set before anything can take a lock"},
		{"C3", "synchronous", "NORMAL", "1",
			"in WAL mode NORMAL is durable against crashes of the process and avoids an fsync per commit"},
		{"C4", "mmap_size", "0", "0",
			"no memory-mapped I/O: an I/O error on a mapped page kills the process instead of returning an error"},
		{"C5", "temp_store", "MEMORY", "2",
			"temporary tables and indices live in memory, not in files beside the database"},
		{"C6", "foreign_keys", "ON", "1",
			"foreign key constraints are enforced"},
	}
	if o.ExternalCheckpoints {
		ps = append(ps, pragma{"W5", "wal_autocheckpoint", "0", "0",
			"an external replicator (Litestream) owns checkpoints"})
	}
	if o.ReadOnly {
		ps = append(ps, pragma{"C8", "query_only", "ON", "1",
			"behavioural read-only: the file stays writable for -shm, writes are refused"})
	}
	return ps
}

// readback is how the connector reads the pragmas back: one SELECT over
// the table-valued pragma functions, then one PRAGMA statement for each
// setting that has no such function.
type readback struct {
	combined    string // SELECT (SELECT * FROM pragma_a), …
	combinedIdx []int  // index in the pragma list of each column of combined
	single      []int  // index of each pragma read with its own statement
}

func newReadback(ps []pragma) readback {
	var rb readback
	var b strings.Builder
	for i, p := range ps {
		if !p.readableAsFunction() {
			rb.single = append(rb.single, i)
			continue
		}
		if len(rb.combinedIdx) == 0 {
			b.WriteString("SELECT ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(SELECT * FROM pragma_%s)", p.name)
		rb.combinedIdx = append(rb.combinedIdx, i)
	}
	rb.combined = b.String()
	return rb
}

// PragmaSetting describes one setting the connector enforces on every
// connection, for documentation and diagnostics (resonance doctor).
type PragmaSetting struct {
	Rule   string // the SPEC rule ID
	Name   string // the PRAGMA
	Value  string // the value set
	Expect string // the value read back
	Reason string
}

// RequiredPragmas lists the settings every connection opened with o carries,
// in the order the connector applies them. journal_mode = WAL (C2) is applied
// right after busy_timeout and is not repeated here.
func RequiredPragmas(o Options) []PragmaSetting {
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	ps := requiredPragmas(o)
	out := make([]PragmaSetting, len(ps))
	for i, p := range ps {
		out[i] = PragmaSetting{Rule: p.rule, Name: p.name, Value: p.value, Expect: p.expect, Reason: p.reason}
	}
	return out
}
