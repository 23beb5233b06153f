package resonance

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"
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
