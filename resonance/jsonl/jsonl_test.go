package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/resonance/jsonl"
)

// float32Bits compares float32 values bit for bit (so -0 differs from 0).
var float32Bits = cmp.Comparer(func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })

func TestParseLine_Valid(t *testing.T) {
	tests := []struct {
		name string
		line string
		want jsonl.Record
	}{
		{"blank", "  \t\r", jsonl.Record{}},
		{"empty", "", jsonl.Record{}},
		{"node defaults", `{"kind":"node","id":"a","type":"doc"}`,
			jsonl.Record{Kind: "node", Node: resonance.Node{ID: "a", Type: "doc", Domain: "knowledge", Layer: "experience"}}},
		{"node full", `{"kind":"node","id":"a","type":"doc","title":"T","domain":"lexicon","layer":"l","embedding":[0.5,-0,1e-45],"hash":"h","summary":"s","meta":{ "x" : [1, {"y":null}] },"date":"2026-01-02"}`,
			jsonl.Record{Kind: "node", Node: resonance.Node{ID: "a", Type: "doc", Title: "T", Domain: "lexicon", Layer: "l",
				Embedding: []float32{0.5, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32}, Hash: "h", Summary: "s",
				Meta: json.RawMessage(`{"x":[1,{"y":null}]}`), Date: "2026-01-02"}}},
		{"nulls are absent", `{"kind":"node","id":"a","type":"doc","title":null,"domain":null,"embedding":null,"meta":null}`,
			jsonl.Record{Kind: "node", Node: resonance.Node{ID: "a", Type: "doc", Domain: "knowledge", Layer: "experience"}}},
		{"empty embedding", `{"kind":"node","id":"a","type":"doc","embedding":[]}`,
			jsonl.Record{Kind: "node", Node: resonance.Node{ID: "a", Type: "doc", Domain: "knowledge", Layer: "experience"}}},
		{"edge defaults", `{"kind":"edge","source":"a","target":"b"}`,
			jsonl.Record{Kind: "edge", Edge: resonance.Edge{Source: "a", Target: "b", Type: "related_to", Confidence: 1, Veracity: 1}}},
		{"edge full", `{"kind":"edge","source":"a","target":"b","type":"cites","confidence":0,"veracity":0.25,"context_source":"x.md"}`,
			jsonl.Record{Kind: "edge", Edge: resonance.Edge{Source: "a", Target: "b", Type: "cites", Confidence: 0, Veracity: 0.25, ContextSource: "x.md"}}},
		{"trailing CR and spaces", "  {\"kind\":\"edge\",\"source\":\"a\",\"target\":\"b\"}\r",
			jsonl.Record{Kind: "edge", Edge: resonance.Edge{Source: "a", Target: "b", Type: "related_to", Confidence: 1, Veracity: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonl.ParseLine([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseLine(%s): %v", tt.line, err)
			}
			if diff := cmp.Diff(tt.want, got, float32Bits); diff != "" {
				t.Errorf("ParseLine(%s) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestParseLine_Invalid(t *testing.T) {
	tests := []struct {
		name, line, field, msg string
	}{
		{"not an object", `[1,2]`, "", "want a JSON object"},
		{"broken JSON", `{"kind":"node",`, "", "not valid JSON"},
		{"trailing data", `{"kind":"edge","source":"a","target":"b"} {}`, "", "unexpected data"},
		{"trailing comma", `{"kind":"edge","source":"a","target":"b",}`, "", "not valid JSON"},
		{"no kind", `{"id":"a"}`, "kind", "missing"},
		{"kind not a string", `{"kind":1}`, "kind", "want a string"},
		{"unknown kind", `{"kind":"vertex","id":"a"}`, "kind", `unknown kind "vertex"`},
		{"unknown field", `{"kind":"node","id":"a","type":"t","colour":"red"}`, "colour", "unknown field"},
		{"case matters", `{"kind":"node","ID":"a","type":"t"}`, "ID", "unknown field"},
		{"edge field on node", `{"kind":"node","id":"a","type":"t","source":"x"}`, "source", "unknown field"},
		{"duplicate key", `{"kind":"node","id":"a","id":"b","type":"t"}`, "id", "given twice"},
		{"empty id", `{"kind":"node","id":"","type":"t"}`, "id", "missing or empty"},
		{"blank id", `{"kind":"node","id":" \t","type":"t"}`, "id", "missing or empty"},
		{"blank edge type", `{"kind":"edge","source":"a","target":"b","type":" "}`, "type", "blank"},
		{"no type", `{"kind":"node","id":"a"}`, "type", "needs a type"},
		{"id a number", `{"kind":"node","id":7,"type":"t"}`, "id", "want a string, got a number"},
		{"title an object", `{"kind":"node","id":"a","type":"t","title":{}}`, "title", "want a string, got an object"},
		{"embedding a string", `{"kind":"node","id":"a","type":"t","embedding":"0.1"}`, "embedding", "want an array"},
		{"embedding of strings", `{"kind":"node","id":"a","type":"t","embedding":["x"]}`, "embedding", "float32"},
		{"embedding NaN", `{"kind":"node","id":"a","type":"t","embedding":[0.1,NaN]}`, "embedding", "NaN"},
		{"embedding overflows float32", `{"kind":"node","id":"a","type":"t","embedding":[1e39]}`, "embedding", "does not fit"},
		{"meta an array", `{"kind":"node","id":"a","type":"t","meta":[1]}`, "meta", "want a JSON object, got an array"},
		{"meta a string", `{"kind":"node","id":"a","type":"t","meta":"{}"}`, "meta", "want a JSON object, got a string"},
		{"edge no source", `{"kind":"edge","target":"b"}`, "source", "missing or empty"},
		{"edge no target", `{"kind":"edge","source":"a"}`, "target", "missing or empty"},
		{"confidence a string", `{"kind":"edge","source":"a","target":"b","confidence":"1"}`, "confidence", "want a number"},
		{"veracity overflows", `{"kind":"edge","source":"a","target":"b","veracity":1e999}`, "veracity", "does not fit"},
		{"confidence Infinity", `{"kind":"edge","source":"a","target":"b","confidence":Infinity}`, "confidence", "not JSON numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := jsonl.ParseLine([]byte(tt.line))
			if err == nil {
				t.Fatalf("ParseLine(%s) = %+v, want an error", tt.line, rec)
			}
			var pe *jsonl.Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseLine(%s) error %T %v, want *jsonl.Error", tt.line, err, err)
			}
			if pe.Field != tt.field {
				t.Errorf("ParseLine(%s) error field %q, want %q (%v)", tt.line, pe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseLine(%s) error %q, want it to contain %q", tt.line, err, tt.msg)
			}
			if tt.field != "" && !strings.Contains(err.Error(), `field "`+tt.field+`"`) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
		})
	}
}

func TestScanner_NamesLine(t *testing.T) {
	in := "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n\n   \n{\"kind\":\"edge\",\"source\":\"a\",\"target\":\"a\"}\n{\"kind\":\"edge\",\"source\":\"a\"}\n"
	sc := jsonl.NewScanner(strings.NewReader(in))
	var kinds []string
	for sc.Scan() {
		kinds = append(kinds, sc.Record().Kind)
	}
	if diff := cmp.Diff([]string{"node", "edge"}, kinds); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	err := sc.Err()
	if err == nil || !strings.HasPrefix(err.Error(), `line 5: field "target"`) {
		t.Fatalf("Err() = %v, want line 5, field target", err)
	}
}

func TestScanner_LongLine(t *testing.T) {
	in := "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\"}\n" + strings.Repeat(" ", jsonl.MaxLineBytes+1) + "\n"
	sc := jsonl.NewScanner(strings.NewReader(in))
	for sc.Scan() {
	}
	if err := sc.Err(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Err() = %v, want line 2 too long", err)
	}
}

func TestWriter_RoundTrip(t *testing.T) {
	recs := []jsonl.Record{
		{Kind: "node", Node: resonance.Node{ID: "a<b>&", Type: "doc", Title: "ünïcode \u2028", Domain: "knowledge", Layer: "experience",
			Embedding: []float32{1, -0.333333343, float32(math.Copysign(0, -1)), math.MaxFloat32, math.SmallestNonzeroFloat32},
			Meta:      json.RawMessage(`{"html":"<b>&amp;</b>","n":1.5e300}`), Date: "d"}},
		{Kind: "edge", Edge: resonance.Edge{Source: "a", Target: "b", Type: "t", Confidence: 0.1 + 0.2, Veracity: 0, ContextSource: "c"}},
	}
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	sc := jsonl.NewScanner(&buf)
	var got []jsonl.Record
	for sc.Scan() {
		got = append(got, sc.Record())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs, got, float32Bits); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// FuzzParseLine: ParseLine never panics; an error is a *jsonl.Error; a
// parsed record writes as one line that parses back to the same record,
// and writing it again gives the same bytes. ParseLine never modifies its
// input.
func FuzzParseLine(f *testing.F) {
	seeds := []string{
		``, ` `, `{}`, `[]`, `null`, `{"kind":"node"}`,
		`{"kind":"node","id":"a","type":"doc"}`,
		`{"kind":"node","id":"a","type":"doc","title":"T","domain":"lexicon","layer":"l","embedding":[0.5,-0,1e-45,3.4028235e38],"hash":"h","summary":"s","meta":{"aliases":["x"],"definition":"d"},"date":"2026-01-02"}`,
		`{"kind":"node","id":"a","type":"doc","meta":{ "a" : "<&>\u2028" , "b":[1,2,{"c":null}]}}`,
		`{"kind":"node","id":"a","type":"doc","meta":[1]}`,
		`{"kind":"node","id":"a","type":"doc","embedding":[NaN]}`,
		`{"kind":"node","id":"a","type":"doc","embedding":[1e39]}`,
		`{"kind":"node","id":"\ud800","type":"\xff"}`,
		`{"kind":"node","id":"a","id":"b","type":"t"}`,
		`{"kind":"edge","source":"a","target":"b"}`,
		`{"kind":"edge","source":"a","target":"b","type":"cites","confidence":0.3,"veracity":-1e-300,"context_source":"x"}`,
		`{"kind":"edge","source":"a","target":"b","confidence":1e999}`,
		`{"kind":"edge","source":"a","target":"b","Confidence":1}`,
		`{"kind":"edge","source":"a","target":"b"}{}`,
		"{\"kind\":\"edge\",\"source\":\"a\",\"target\":\"b\"}\r",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		rec, err := jsonl.ParseLine(line)
		if !bytes.Equal(orig, line) {
			t.Fatalf("ParseLine modified its input")
		}
		if err != nil {
			var pe *jsonl.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *jsonl.Error", err, err)
			}
			if rec.Kind != "" {
				t.Fatalf("error %v with a %s record", err, rec.Kind)
			}
			return
		}
		if rec.Blank() {
			return
		}
		var buf bytes.Buffer
		w := jsonl.NewWriter(&buf)
		if err := w.Write(rec); err != nil {
			t.Fatalf("Write(%+v): %v", rec, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out := buf.Bytes()
		if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
			t.Fatalf("Write gave %q, want one line", out)
		}
		again, err := jsonl.ParseLine(out[:len(out)-1])
		if err != nil {
			t.Fatalf("re-parsing %q (from %q): %v", out, line, err)
		}
		if diff := cmp.Diff(rec, again, float32Bits); diff != "" {
			t.Fatalf("re-parse of %q differs (-first +second):\n%s", out, diff)
		}
		var buf2 bytes.Buffer
		w2 := jsonl.NewWriter(&buf2)
		if err := w2.Write(again); err != nil {
			t.Fatal(err)
		}
		if err := w2.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, buf2.Bytes()) {
			t.Fatalf("writing twice differs:\n%q\n%q", out, buf2.Bytes())
		}
	})
}

// TestParseLine_InvalidUTF8: bytes that are not UTF-8 are refused naming
// the field, instead of becoming U+FFFD (which would merge the ids "k\xff"
// and "k\xfe" into one node); so are escapes of lone surrogates, which
// would become U+FFFD the same way.
func TestParseLine_InvalidUTF8(t *testing.T) {
	tests := []struct {
		name, line, field string
	}{
		{"id", "{\"kind\":\"node\",\"id\":\"k\xff\",\"type\":\"t\"}", "id"},
		{"other id", "{\"kind\":\"node\",\"id\":\"k\xfe\",\"type\":\"t\"}", "id"},
		{"title", "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\",\"title\":\"caf\xe9\"}", "title"},
		{"truncated sequence", "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\",\"summary\":\"\xe2\x82\"}", "summary"},
		{"overlong encoding", "{\"kind\":\"edge\",\"source\":\"a\",\"target\":\"\xc0\xaf\"}", "target"},
		{"encoded surrogate", "{\"kind\":\"edge\",\"source\":\"a\",\"target\":\"b\",\"context_source\":\"\xed\xa0\x80\"}", "context_source"},
		{"inside meta", "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\",\"meta\":{\"x\":\"\xff\"}}", "meta"},
		{"in a key", "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\",\"\xff\":1}", "\ufffd"},
		{"lone high surrogate escape", `{"kind":"node","id":"k\ud800","type":"t"}`, "id"},
		{"lone low surrogate escape", `{"kind":"node","id":"a","type":"t","title":"x\udc00y"}`, "title"},
		{"reversed surrogate pair", `{"kind":"node","id":"\udc00\ud800","type":"t"}`, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := jsonl.ParseLine([]byte(tt.line))
			var pe *jsonl.Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseLine(%q) = %+v, %v; want a *jsonl.Error", tt.line, rec, err)
			}
			if pe.Field != tt.field || !strings.Contains(err.Error(), "UTF-8") && !strings.Contains(err.Error(), "surrogate") {
				t.Errorf("ParseLine(%q) error %q (field %q), want invalid UTF-8 or a lone surrogate in field %q", tt.line, err, pe.Field, tt.field)
			}
		})
	}
	// A valid surrogate pair and a literal U+FFFD are data.
	rec, err := jsonl.ParseLine([]byte(`{"kind":"node","id":"\ud83d\ude00\ufffd` + "\uFFFD" + `","type":"t"}`))
	if err != nil || rec.Node.ID != "😀\uFFFD\uFFFD" {
		t.Errorf("valid pair and U+FFFD: %+v, %v", rec.Node, err)
	}
}

// TestScanner_ByteOrderMark: a UTF-8 byte-order mark at the very start of
// the input is skipped; one at the start of a later line is refused naming
// that line; one inside a string is data.
func TestScanner_ByteOrderMark(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	in := bom + "{\"kind\":\"node\",\"id\":\"a\",\"type\":\"t\",\"title\":\"" + bom + "x\"}\n"
	sc := jsonl.NewScanner(strings.NewReader(in))
	if !sc.Scan() {
		t.Fatalf("a file starting with a byte-order mark: %v", sc.Err())
	}
	if got := sc.Record().Node; got.ID != "a" || got.Title != bom+"x" {
		t.Errorf("record %+v, want id a and the mark kept inside the title", got)
	}
	if sc.Scan() || sc.Err() != nil {
		t.Errorf("after the only line: Scan true or Err %v", sc.Err())
	}

	sc = jsonl.NewScanner(strings.NewReader(in + bom + "{\"kind\":\"node\",\"id\":\"b\",\"type\":\"t\"}\n"))
	for sc.Scan() {
	}
	if err := sc.Err(); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") || !strings.Contains(err.Error(), "byte-order mark") {
		t.Errorf("a byte-order mark starting line 2: %v, want an error naming line 2 and the mark", err)
	}

	r := jsonl.SkipBOM(strings.NewReader(bom + bom + "x"))
	b, _ := io.ReadAll(r)
	if string(b) != bom+"x" {
		t.Errorf("SkipBOM read %q, want only the first mark skipped", b)
	}
}

// TestWriter_WriteErrorNamesNoRecord: a failing writer (a full disk) is
// reported as a write error wrapping the cause, not as a fault of the node
// or edge being written.
func TestWriter_WriteErrorNamesNoRecord(t *testing.T) {
	w := jsonl.NewWriter(failingWriter{syscall.ENOSPC})
	var err error
	for i := 0; err == nil && i < 10000; i++ {
		err = w.WriteNode(resonance.Node{ID: "node-" + strings.Repeat("x", 100), Type: "t"})
	}
	if err == nil {
		err = w.Flush()
	}
	if !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "node-") {
		t.Errorf("write error %v, want ENOSPC without a node id", err)
	}
	if err := w.WriteEdge(resonance.Edge{Source: "s", Target: "t"}); !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), `"s"`) {
		t.Errorf("edge after a write error: %v, want ENOSPC without the edge", err)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// TestWriter_RefusesTextThatIsNotUTF8 writes records whose text another
// program stored without being UTF-8: each is refused, naming the record
// and the field, and nothing of it is written, since JSON would carry the
// bad bytes as U+FFFD and the line would parse back to other text.
func TestWriter_RefusesTextThatIsNotUTF8(t *testing.T) {
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	for name, write := range map[string]func() error{
		`node "k\xff": field "id"`: func() error { return w.WriteNode(resonance.Node{ID: "k\xff", Type: "doc"}) },
		`node "k": field "title"`:  func() error { return w.WriteNode(resonance.Node{ID: "k", Type: "doc", Title: "t\xfe"}) },
		`node "m": field "meta" is not a JSON object`: func() error {
			return w.WriteNode(resonance.Node{ID: "m", Type: "doc", Meta: []byte(`[1,2]`)})
		},
		`edge "a" -> "b\xff" (related_to): field "target"`: func() error { return w.WriteEdge(resonance.Edge{Source: "a", Target: "b\xff"}) },
	} {
		err := write()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("writing a record with %s not UTF-8: err = %v", name, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused records wrote %q", buf.String())
	}
}
