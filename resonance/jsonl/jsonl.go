// Package jsonl reads and writes a Resonance Graph as JSON Lines: one JSON
// object per line, either a node or an edge.
//
//	{"kind":"node","id":"docs-intro","type":"document","title":"Intro","domain":"knowledge","layer":"experience","embedding":[0.1,0.2],"hash":"…","summary":"…","meta":{"tags":["a"]},"date":"2026-01-02"}
//	{"kind":"edge","source":"docs-intro","target":"concept-wal","type":"mentions","confidence":0.9,"veracity":1,"context_source":"docs/intro.md"}
//
// Parsing is strict: the kind must be "node" or "edge", every key must be
// one of that kind's fields (spelled exactly, case included), every value
// must have the field's type, meta must be a JSON object, and a node needs
// an id and a type, an edge a source and a target. Absent fields (and
// fields given as null) take the defaults: domain "knowledge", layer
// "experience", edge type "related_to", confidence and veracity 1; a
// confidence or veracity given as 0 stays 0, so export then import is the
// identity. Lines
// holding only white space are blank and carry nothing.
//
// The input is UTF-8. A byte that is not UTF-8, and a \u escape of a lone
// UTF-16 surrogate in a string field, are refused naming the line and the
// field: decoding either as U+FFFD would merge distinct ids into one node.
// A UTF-8 byte-order mark is skipped at the very start of the input (by
// Scanner and SkipBOM) and nowhere else: at the start of a later line it is
// an error, and inside a string it is data.
//
// A Writer writes the same format; what it writes parses back to the same
// values, bit for bit for embeddings.
package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/resonance-graph/resonancedb/resonance"
)

// Kinds of record.
const (
	KindNode = "node"
	KindEdge = "edge"
)

// MaxLineBytes is the longest line a Scanner accepts (16 MiB): far more
// than a node with a 4,096-float embedding needs.
const MaxLineBytes = 16 << 20

// Record is one parsed line. Kind is KindNode (Node is set), KindEdge (Edge
// is set), or "" for a blank line.
type Record struct {
	Kind string
	Node resonance.Node
	Edge resonance.Edge
}

// The store's defaults for a node's domain and layer and an edge's type
// (D1, D2), which a line without them gets.
const (
	defaultDomain   = "knowledge"
	defaultLayer    = "experience"
	defaultEdgeType = "related_to"
)

// Blank reports whether the record came from a blank line.
func (r Record) Blank() bool { return r.Kind == "" }

// Error is a line that could not be parsed. Field names the offending key
// ("" when the line as a whole is wrong, e.g. not a JSON object).
type Error struct {
	Line  int // 1-based; 0 when the caller did not say
	Field string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// fields of each kind, in the order a Writer writes them.
var (
	nodeFields = []string{"kind", "id", "type", "title", "domain", "layer", "embedding", "hash", "summary", "meta", "date"}
	edgeFields = []string{"kind", "source", "target", "type", "confidence", "veracity", "context_source"}
)

// ParseLine parses one line (without its newline; a trailing "\r" is
// allowed). A blank line gives a Record with Kind "" and no error. Errors
// are *Error with Line 0 and name the field; Scanner fills in the line.
func ParseLine(line []byte) (Record, error) {
	if !utf8.Valid(line) {
		return Record{}, invalidUTF8(line)
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Record{}, nil
	}
	if bytes.HasPrefix(line, []byte(bom)) {
		return Record{}, &Error{Err: errors.New("a byte-order mark (U+FEFF) is allowed only at the very start of the input")}
	}
	if line[0] != '{' {
		return Record{}, &Error{Err: errors.New("want a JSON object ({\"kind\":\"node\",…} or {\"kind\":\"edge\",…})")}
	}
	obj, err := splitObject(line)
	if err != nil {
		return Record{}, err
	}
	kindRaw, ok := obj["kind"]
	if !ok || isNull(kindRaw) {
		return Record{}, &Error{Field: "kind", Err: errors.New(`missing: want "node" or "edge"`)}
	}
	var kind string
	if err := json.Unmarshal(kindRaw, &kind); err != nil {
		return Record{}, &Error{Field: "kind", Err: fmt.Errorf("want a string, got %s", typeOf(kindRaw))}
	}
	switch kind {
	case KindNode:
		if err := checkKeys(obj, nodeFields, KindNode); err != nil {
			return Record{}, err
		}
		n, err := parseNode(obj)
		if err != nil {
			return Record{}, err
		}
		return Record{Kind: KindNode, Node: n}, nil
	case KindEdge:
		if err := checkKeys(obj, edgeFields, KindEdge); err != nil {
			return Record{}, err
		}
		e, err := parseEdge(obj)
		if err != nil {
			return Record{}, err
		}
		return Record{Kind: KindEdge, Edge: e}, nil
	}
	return Record{}, &Error{Field: "kind", Err: fmt.Errorf(`unknown kind %q: want "node" or "edge"`, kind)}
}

// invalidUTF8 reports the first byte of line that is not UTF-8, naming the
// member of the object that holds it.
func invalidUTF8(line []byte) error {
	at := 0
	for at < len(line) {
		r, size := utf8.DecodeRune(line[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	return &Error{Field: memberAt(line, at), Err: fmt.Errorf("not valid UTF-8: byte 0x%02x at column %d; the input must be UTF-8", line[at], at+1)}
}

// memberAt returns the key of the member of the JSON object line whose key
// or value holds byte offset at; "" when none does.
func memberAt(line []byte, at int) string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return ""
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return ""
		}
		if dec.InputOffset() > int64(at) {
			key, _ := tok.(string)
			return key
		}
	}
	return ""
}

// splitObject splits one JSON object into its members, keeping each value
// raw. A syntax error inside a value names that value's key, and a key given
// twice is refused (encoding/json would keep the last one silently).
func splitObject(line []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // '{', checked by the caller
		return nil, &Error{Err: fmt.Errorf("not valid JSON: %s", jsonErr(err))}
	}
	obj := make(map[string]json.RawMessage, 12)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("not valid JSON: %s", jsonErr(err))}
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &Error{Err: fmt.Errorf("not valid JSON: want a key, got %v", tok)}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			msg := jsonErr(err)
			if bytes.Contains(line, []byte("NaN")) || bytes.Contains(line, []byte("Inf")) {
				msg += " (NaN and Infinity are not JSON numbers)"
			}
			return nil, &Error{Field: key, Err: fmt.Errorf("not valid JSON: %s", msg)}
		}
		if _, dup := obj[key]; dup {
			return nil, &Error{Field: key, Err: errors.New("given twice")}
		}
		obj[key] = raw
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, &Error{Err: fmt.Errorf("not valid JSON: %s", jsonErr(err))}
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("unexpected data after the object: %s", jsonErr(err))}
		}
		return nil, &Error{Err: fmt.Errorf("unexpected data after the object: %v", tok)}
	}
	return obj, nil
}

// checkKeys refuses keys that are not fields of kind. Keys are compared
// exactly: encoding/json would match "ID" to "id".
func checkKeys(obj map[string]json.RawMessage, allowed []string, kind string) error {
	var unknown []string
	for k := range obj {
		if !contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return &Error{Field: unknown[0], Err: fmt.Errorf("unknown field of a %s (fields: %s)", kind, strings.Join(allowed[1:], ", "))}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseNode(obj map[string]json.RawMessage) (resonance.Node, error) {
	var n resonance.Node
	strs := []struct {
		name string
		dst  *string
	}{
		{"id", &n.ID}, {"type", &n.Type}, {"title", &n.Title}, {"domain", &n.Domain},
		{"layer", &n.Layer}, {"hash", &n.Hash}, {"summary", &n.Summary}, {"date", &n.Date},
	}
	for _, s := range strs {
		if err := str(obj, s.name, s.dst); err != nil {
			return resonance.Node{}, err
		}
	}
	if blank(n.ID) {
		return resonance.Node{}, &Error{Field: "id", Err: errors.New("missing or empty: every node needs an id")}
	}
	if blank(n.Type) {
		return resonance.Node{}, &Error{Field: "type", Err: fmt.Errorf("missing or empty: node %q needs a type", n.ID)}
	}
	if n.Domain == "" {
		n.Domain = defaultDomain
	}
	if n.Layer == "" {
		n.Layer = defaultLayer
	}
	if raw, ok := obj["embedding"]; ok && !isNull(raw) {
		if raw[0] != '[' {
			return resonance.Node{}, &Error{Field: "embedding", Err: fmt.Errorf("want an array of numbers, got %s", typeOf(raw))}
		}
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			return resonance.Node{}, &Error{Field: "embedding", Err: fmt.Errorf("want an array of float32 numbers: %s", jsonErr(err))}
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return resonance.Node{}, &Error{Field: "embedding", Err: fmt.Errorf("element %d is not finite", i)}
			}
		}
		if len(v) > 0 {
			n.Embedding = v
		}
	}
	if raw, ok := obj["meta"]; ok && !isNull(raw) {
		if raw[0] != '{' {
			return resonance.Node{}, &Error{Field: "meta", Err: fmt.Errorf("want a JSON object, got %s", typeOf(raw))}
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return resonance.Node{}, &Error{Field: "meta", Err: err}
		}
		n.Meta = json.RawMessage(buf.Bytes())
	}
	return n, nil
}

func parseEdge(obj map[string]json.RawMessage) (resonance.Edge, error) {
	e := resonance.Edge{Confidence: 1, Veracity: 1}
	strs := []struct {
		name string
		dst  *string
	}{
		{"source", &e.Source}, {"target", &e.Target}, {"type", &e.Type}, {"context_source", &e.ContextSource},
	}
	for _, s := range strs {
		if err := str(obj, s.name, s.dst); err != nil {
			return resonance.Edge{}, err
		}
	}
	if blank(e.Source) {
		return resonance.Edge{}, &Error{Field: "source", Err: errors.New("missing or empty: every edge needs a source node id")}
	}
	if blank(e.Target) {
		return resonance.Edge{}, &Error{Field: "target", Err: fmt.Errorf("missing or empty: edge from %q needs a target node id", e.Source)}
	}
	if e.Type == "" {
		e.Type = defaultEdgeType
	} else if blank(e.Type) {
		return resonance.Edge{}, &Error{Field: "type", Err: errors.New("blank: give an edge type or leave it out for related_to")}
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"confidence", &e.Confidence}, {"veracity", &e.Veracity}} {
		raw, ok := obj[f.name]
		if !ok || isNull(raw) {
			continue
		}
		if strings.HasPrefix(typeOf(raw), "a number") {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return resonance.Edge{}, &Error{Field: f.name, Err: errors.New(jsonErr(err))}
			}
		} else {
			return resonance.Edge{}, &Error{Field: f.name, Err: fmt.Errorf("want a number, got %s", typeOf(raw))}
		}
		if math.IsNaN(*f.dst) || math.IsInf(*f.dst, 0) {
			return resonance.Edge{}, &Error{Field: f.name, Err: errors.New("not a finite number")}
		}
	}
	return e, nil
}

// str decodes the string field name of obj into dst; absent and null leave
// dst as it is.
func str(obj map[string]json.RawMessage, name string, dst *string) error {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return nil
	}
	if raw[0] != '"' {
		return &Error{Field: name, Err: fmt.Errorf("want a string, got %s", typeOf(raw))}
	}
	if loneSurrogate(raw) {
		return &Error{Field: name, Err: errors.New(`a \u escape of a lone UTF-16 surrogate is not a character: write a character outside the BMP as a pair (\ud83d\ude00) or as UTF-8`)}
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return &Error{Field: name, Err: err}
	}
	return nil
}

// loneSurrogate reports whether the JSON string raw holds a \u escape of a
// UTF-16 surrogate that is not part of a high-low pair, which encoding/json
// would decode as U+FFFD. raw is valid JSON: every \u has four hex digits.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		i += 4 // the last hex digit
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r >= 0xdc00 { // a low surrogate with no high one before it
			return true
		}
		if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return true
		}
		if lo := hex4(raw[i+3:]); lo < 0xdc00 || lo > 0xdfff {
			return true
		}
		i += 6
	}
	return false
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) rune {
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return -1
	}
	return rune(v)
}

// blank reports whether s is empty or only white space, which the store
// refuses as an id or type.
func blank(s string) bool { return strings.TrimSpace(s) == "" }

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// typeOf names the JSON type of a raw value, for error messages.
func typeOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number (" + string(raw) + ")"
}

// jsonErr shortens encoding/json's messages, which name Go types.
func jsonErr(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Value == "number" || strings.HasPrefix(ute.Value, "number ") {
			return fmt.Sprintf("%s does not fit in a %s", ute.Value, ute.Type)
		}
		return fmt.Sprintf("got %s", ute.Value)
	}
	return err.Error()
}

// Scanner reads records line by line, skipping blank lines.
type Scanner struct {
	sc   *bufio.Scanner
	line int
	rec  Record
	err  error
}

// NewScanner returns a Scanner reading r. Lines may be up to MaxLineBytes
// long. A byte-order mark at the very start of r is skipped (SkipBOM).
func NewScanner(r io.Reader) *Scanner {
	sc := bufio.NewScanner(SkipBOM(r))
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return &Scanner{sc: sc}
}

// Scan advances to the next non-blank line and parses it. It returns false
// at the end of the input or on an error, which Err then returns.
func (s *Scanner) Scan() bool {
	for s.err == nil && s.sc.Scan() {
		s.line++
		rec, err := ParseLine(s.sc.Bytes())
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Line = s.line
			}
			s.err = err
			return false
		}
		if rec.Blank() {
			continue
		}
		s.rec = rec
		return true
	}
	if s.err == nil {
		if err := s.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				s.err = &Error{Line: s.line + 1, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
			} else {
				s.err = err
			}
		}
	}
	return false
}

// Record returns the record of the last successful Scan.
func (s *Scanner) Record() Record { return s.rec }

// Line returns the 1-based number of the last line read.
func (s *Scanner) Line() int { return s.line }

// Err returns the first error, nil at a clean end of input.
func (s *Scanner) Err() error { return s.err }

// wire forms: the order of the struct fields is the order on the line.
type nodeLine struct {
	Kind      string          `json:"kind"`
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Title     string          `json:"title,omitempty"`
	Domain    string          `json:"domain"`
	Layer     string          `json:"layer"`
	Embedding []float32       `json:"embedding,omitempty"`
	Hash      string          `json:"hash,omitempty"`
	Summary   string          `json:"summary,omitempty"`
	Meta      json.RawMessage `json:"meta,omitempty"`
	Date      string          `json:"date,omitempty"`
}

type edgeLine struct {
	Kind          string  `json:"kind"`
	Source        string  `json:"source"`
	Target        string  `json:"target"`
	Type          string  `json:"type"`
	Confidence    float64 `json:"confidence"`
	Veracity      float64 `json:"veracity"`
	ContextSource string  `json:"context_source,omitempty"`
}

// Writer writes records, one line each. An error of the underlying writer
// (a full disk) is returned as it is, naming no record: it is not the
// record's fault.
type Writer struct {
	w   *bufio.Writer
	out *errWriter
	enc *json.Encoder
}

// errWriter keeps the first error of the writer it wraps.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// NewWriter returns a Writer on w. Call Flush when done.
func NewWriter(w io.Writer) *Writer {
	out := &errWriter{w: w}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, out: out, enc: enc}
}

// encode writes v as one line; what names the record in an error that is
// the record's own (a value JSON cannot hold).
func (w *Writer) encode(v any, what func() string) error {
	if err := w.enc.Encode(v); err != nil {
		if w.out.err != nil {
			return w.out.err
		}
		return fmt.Errorf("%s: %w", what(), err)
	}
	return nil
}

// WriteNode writes n as one line. Empty domain, layer and meta are written
// as the values a parser would give them, so the line parses back to n
// with its defaults filled in.
func (w *Writer) WriteNode(n resonance.Node) error {
	l := nodeLine{Kind: KindNode, ID: n.ID, Type: n.Type, Title: n.Title, Domain: n.Domain, Layer: n.Layer,
		Embedding: n.Embedding, Hash: n.Hash, Summary: n.Summary, Date: n.Date}
	if l.Domain == "" {
		l.Domain = defaultDomain
	}
	if l.Layer == "" {
		l.Layer = defaultLayer
	}
	if len(bytes.TrimSpace(n.Meta)) > 0 && !isNull(bytes.TrimSpace(n.Meta)) {
		l.Meta = n.Meta
	}
	if m := bytes.TrimSpace(l.Meta); len(m) > 0 && (m[0] != '{' || !json.Valid(m)) {
		// Written by another program (the graph API keeps meta a JSON
		// object): a line with it would not parse back.
		return fmt.Errorf("node %q: field \"meta\" is not a JSON object (%.40q): import would refuse the line; fix the row in the database first", n.ID, m)
	}
	if err := notUTF8(map[string]string{"id": n.ID, "type": n.Type, "title": n.Title, "domain": n.Domain, "layer": n.Layer,
		"hash": n.Hash, "summary": n.Summary, "date": n.Date, "meta": string(n.Meta)}); err != nil {
		return fmt.Errorf("node %q: %w", n.ID, err)
	}
	return w.encode(l, func() string { return fmt.Sprintf("node %q", n.ID) })
}

// WriteEdge writes e as one line; an empty type is written as "related_to".
func (w *Writer) WriteEdge(e resonance.Edge) error {
	l := edgeLine{Kind: KindEdge, Source: e.Source, Target: e.Target, Type: e.Type,
		Confidence: e.Confidence, Veracity: e.Veracity, ContextSource: e.ContextSource}
	if l.Type == "" {
		l.Type = defaultEdgeType
	}
	if err := notUTF8(map[string]string{"source": e.Source, "target": e.Target, "type": e.Type, "context_source": e.ContextSource}); err != nil {
		return fmt.Errorf("edge %q -> %q (%s): %w", e.Source, e.Target, l.Type, err)
	}
	return w.encode(l, func() string { return fmt.Sprintf("edge %q -> %q (%s)", e.Source, e.Target, l.Type) })
}

// Write writes a node or edge record; blank records write nothing.
func (w *Writer) Write(r Record) error {
	switch r.Kind {
	case KindNode:
		return w.WriteNode(r.Node)
	case KindEdge:
		return w.WriteEdge(r.Edge)
	case "":
		return nil
	}
	return fmt.Errorf("jsonl: unknown kind %q", r.Kind)
}

// notUTF8 refuses a record whose text is not valid UTF-8 (written by
// another program: the graph API refuses it): JSON would carry each bad
// byte as U+FFFD, and the line would parse back to other text, two ids
// perhaps to one.
func notUTF8(fields map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !utf8.ValidString(fields[name]) {
			return fmt.Errorf("field %q is not valid UTF-8 (%q): JSON cannot carry it unchanged; fix the row in the database first", name, fields[name])
		}
	}
	return nil
}

// Flush writes any buffered lines to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// bom is the UTF-8 encoding of U+FEFF, the byte-order mark.
const bom = "\xef\xbb\xbf"

// SkipBOM returns a reader of r without the UTF-8 byte-order mark that some
// editors put at the very start of a file. Only that one mark is skipped:
// one at the start of a later line is refused by ParseLine, and one inside
// a string is data.
func SkipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(len(bom)); string(b) == bom {
		br.Discard(len(bom))
	}
	return br
}
