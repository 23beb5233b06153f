package resonance

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/resonance-graph/resonancedb/db"
)

// History rows: every write of the graph API adds exactly one, in the same
// transaction as the change it records.
//
//	entity_type  entity_id                 action          old_value   new_value
//	node         the node id               upsert          NULL        the node as JSON (nodeJSON)
//	node         the node id               update_meta     old meta    new meta
//	node         the node id               update_date     old date    new date
//	edge         source|target|type        insert          NULL        {"source","target","type"}
//	edge         source|target|type        insert_ignored  NULL        the same; the edge existed already
//	edge         source|target|type        upsert          NULL        the edge as JSON, all six fields
//	node         the node id               delete          the node as JSON (nodeJSON)   NULL
//	edge         source|target|type        delete          the edge as JSON, all six fields   NULL
//
// DeleteNodes writes the delete rows of the edges first, by key, then those
// of the nodes, in the order given.
//
// The edge's entity_id is readable, not a key: ids may contain '|'. The
// JSON in new_value names each part exactly.
const (
	entityNode = "node"
	entityEdge = "edge"

	actionUpsert        = "upsert"
	actionUpdateMeta    = "update_meta"
	actionUpdateDate    = "update_date"
	actionInsert        = "insert"
	actionInsertIgnored = "insert_ignored"
	actionDelete        = "delete"
)

// nodeJSON is the history record of an upserted node: its fields, with the
// embedding as {"dim":N,"sha256":"hex of the stored blob"} instead of its
// numbers (the original's float text made up most of its database), meta
// as the JSON object itself (or null), empty strings as "". blob is the
// encoded embedding, domain and layer have their defaults applied.
//
// It is built by appending: it runs once per upsert, on the ingest path.
func nodeJSON(buf []byte, n *Node, domain, layer string, blob []byte, meta []byte) []byte {
	b := append(buf, `{"id":`...)
	b = appendJSONString(b, n.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, n.Type)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, n.Title)
	b = append(b, `,"domain":`...)
	b = appendJSONString(b, domain)
	b = append(b, `,"layer":`...)
	b = appendJSONString(b, layer)
	b = append(b, `,"embedding":`...)
	if len(blob) == 0 {
		b = append(b, "null"...)
	} else {
		sum := sha256.Sum256(blob)
		b = append(b, `{"dim":`...)
		b = strconv.AppendInt(b, int64(len(blob)/4), 10)
		b = append(b, `,"sha256":"`...)
		b = hex.AppendEncode(b, sum[:])
		b = append(b, `"}`...)
	}
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, n.Hash)
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, n.Summary)
	b = append(b, `,"meta":`...)
	if meta == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, meta...) // validated: a JSON object
	}
	b = append(b, `,"date":`...)
	b = appendJSONString(b, n.Date)
	return append(b, '}')
}

// edgeJSON is the history record of an edge. With full set it also holds
// confidence, veracity and context_source (the semantic upsert).
func edgeJSON(buf []byte, e *Edge, full bool) []byte {
	b := append(buf, `{"source":`...)
	b = appendJSONString(b, e.Source)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, e.Target)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	if full {
		b = append(b, `,"confidence":`...)
		b = strconv.AppendFloat(b, e.Confidence, 'g', -1, 64) // finite: validated
		b = append(b, `,"veracity":`...)
		b = strconv.AppendFloat(b, e.Veracity, 'g', -1, 64)
		b = append(b, `,"context_source":`...)
		b = appendJSONString(b, e.ContextSource)
	}
	return append(b, '}')
}

// appendEdgeEntityID appends the history entity_id of an edge to b.
func appendEdgeEntityID(b []byte, source, target, typ string) []byte {
	b = append(b, source...)
	b = append(b, '|')
	b = append(b, target...)
	b = append(b, '|')
	return append(b, typ...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it with SetEscapeHTML(false): '"' and '\\' escaped, control
// characters as \b \f \n \r \t or \u00XX, each invalid UTF-8 byte as
// \ufffd, and U+2028 and U+2029 escaped so the text is valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// HistoryFilter selects the changes History returns. The zero value
// selects every change.
type HistoryFilter struct {
	// NodeID, when not empty, selects the changes of that node (not those
	// of its edges).
	NodeID string
	// Since, when not zero, selects the changes made at or after it.
	// History keeps whole seconds: Since is rounded down to one.
	Since time.Time
	// Limit is how many changes to return at most (0: all), after skipping
	// Offset of them, for paging.
	Limit  int
	Offset int
}

// Change is one row of the history: a write of the graph API.
type Change struct {
	ID       int64  `json:"id"`        // increases with each change
	Entity   string `json:"entity"`    // "node" or "edge"
	EntityID string `json:"entity_id"` // a node's id; "source|target|type" for an edge
	Action   string `json:"action"`    // "upsert", "update_meta", "update_date", "insert", "insert_ignored", "delete"
	// Old and New are the values before and after the change as JSON: the
	// node or edge as an object, a meta object, a date as a string; nil
	// when there is none (a value another program stored that is not JSON
	// comes as a JSON string).
	Old json.RawMessage `json:"old,omitempty"`
	New json.RawMessage `json:"new,omitempty"`
	// Time is when the change was committed, in UTC to the second; zero
	// when the row's timestamp is not one (written by another program).
	Time time.Time `json:"time"`
}

// historyTime is how SQLite's CURRENT_TIMESTAMP writes a history row's
// timestamp, in UTC.
const historyTime = "2006-01-02 15:04:05"

// History returns the changes f selects, newest first (D13). A negative
// Limit or Offset is refused with ErrInvalid.
func (r *ReadTx) History(ctx context.Context, f HistoryFilter) ([]Change, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("resonance: history: %w: HistoryFilter.Limit (%d) and Offset (%d) must not be negative; Limit 0 means all", ErrInvalid, f.Limit, f.Offset)
	}
	r, done, err := r.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("resonance: history: %w", err)
	}
	defer done()
	p := db.ListChangesParams{Limit: int64(f.Limit), Offset: int64(f.Offset)}
	if p.Limit == 0 {
		p.Limit = -1
	}
	if f.NodeID != "" {
		p.NodeID = f.NodeID
	}
	if !f.Since.IsZero() {
		p.Since = f.Since.UTC().Format(historyTime)
	}
	rows, err := r.q.ListChanges(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("resonance: history: %w", classify(err))
	}
	out := make([]Change, len(rows))
	for i := range rows {
		row := &rows[i]
		out[i] = Change{ID: row.ID, Entity: row.EntityType, EntityID: row.EntityID, Action: row.Action,
			Old: historyValue(row.Action, row.OldValue), New: historyValue(row.Action, row.NewValue), Time: parseHistoryTime(row.Timestamp)}
	}
	return out, nil
}

// historyValue is a stored old_value or new_value as JSON: nil for NULL,
// a date (which is text, whatever it looks like) or text that is not JSON
// as a JSON string, and otherwise the text itself.
func historyValue(action string, v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	if action != actionUpdateDate && json.Valid([]byte(v.String)) {
		return json.RawMessage(v.String)
	}
	return appendJSONString(nil, v.String)
}

// parseHistoryTime reads a timestamp as CURRENT_TIMESTAMP writes it, or
// as RFC 3339; anything else is the zero time.
func parseHistoryTime(s string) time.Time {
	for _, layout := range []string{historyTime, time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
