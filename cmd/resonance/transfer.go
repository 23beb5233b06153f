package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/resonance-graph/resonancedb/cmd/resonance/example"
	"github.com/resonance-graph/resonancedb/internal/fsfix"
	"github.com/resonance-graph/resonancedb/internal/output"
	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/resonance/jsonl"
)

const formatHelp = `
Format (JSON Lines, one object a line; blank lines are skipped):
  {"kind":"node","id":"…","type":"…","title":"…","domain":"…","layer":"…","embedding":[…],"hash":"…","summary":"…","meta":{…},"date":"…"}
  {"kind":"edge","source":"…","target":"…","type":"…","confidence":1,"veracity":1,"context_source":"…"}
Absent fields take the defaults: domain knowledge, layer experience, edge type
related_to, confidence and veracity 1 (a 0 given stays 0). Unknown
kinds and fields, wrong types, meta that is not an object and NaN are errors
naming the line and the field. The input is UTF-8: bytes that are not, and
\u escapes of lone surrogates, are errors too. A UTF-8 byte-order mark at the
very start of the input is skipped.`

const importHelp = "Import nodes and edges from a JSON Lines file (- for stdin), in batches of short transactions.\n\n" +
	"Each batch of --batch lines is parsed completely before its transaction begins, so a bad\n" +
	"line writes nothing of its batch; earlier batches stay committed, and the error names the\n" +
	"line and the --skip that resumes after the last committed line. Nodes are upserted (D1),\n" +
	"edges upserted with their confidence, veracity and context (D3); importing twice is harmless.\n" +
	formatHelp

func importFlags(fs *flag.FlagSet) {
	fs.Int("batch", 1000, fmt.Sprintf("`N` lines per transaction, 1 to %d", maxBatch))
	fs.Int("skip", 0, "skip the first `N` lines of the input (to resume a failed import)")
	progressFlag(fs)
}

const exportHelp = "Export every node, then every edge, as JSON Lines to FILE or stdout (the import format).\n\n" +
	"The export reads one consistent snapshot while writers go on. FILE is written to a temporary\n" +
	"file and renamed into place when complete; an existing FILE is refused unless --force. FILE\n" +
	"may never be the database, its -wal, -shm or -journal (under any name), a device or a\n" +
	"directory. Temporary files an interrupted export to FILE left behind are removed. With\n" +
	"FILE a summary (or with --json a JSON object) goes to stdout; with -, stdout holds only the data.\n" +
	"--format dot writes a Graphviz digraph instead: nodes labelled by title and filled by domain,\n" +
	"edges labelled by type; with --root ID only the nodes within --depth edges of it, both ways,\n" +
	"at most 1,000 (a note says when it cut). Render it with `dot -Tsvg FILE > graph.svg`.\n" +
	formatHelp

func exportFlags(fs *flag.FlagSet) {
	fs.Bool("force", false, "overwrite FILE if it exists")
	fs.String("format", "jsonl", "`FORMAT` of the output: jsonl (the import format) or dot (Graphviz)")
	fs.String("root", "", "with --format dot: only the neighbourhood of the node `ID`")
	fs.Int("depth", 2, "with --root: the nodes within `N` edges of it, both ways (1 to 6)")
	fs.Int("page", 1000, fmt.Sprintf("`N` nodes read per query, 1 to %d", maxPage))
	progressFlag(fs)
}

// Bounds of the size flags: a size from the command line is checked before
// anything is opened and never allocated up front (O5).
const (
	maxBatch = 100000 // --batch: lines per transaction
	maxPage  = 100000 // --page: nodes per query
)

func intFlag(fs *flag.FlagSet, name string) int {
	return fs.Lookup(name).Value.(flag.Getter).Get().(int)
}

func boolFlag(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name).Value.(flag.Getter).Get().(bool)
}

func stringFlag(fs *flag.FlagSet, name string) string {
	return fs.Lookup(name).Value.String()
}

// importResult is what import prints.
type importResult struct {
	DB       string        `json:"db"`
	File     string        `json:"file"`
	Lines    int64         `json:"lines"`   // lines read, skipped ones included
	Skipped  int64         `json:"skipped"` // lines skipped with --skip
	Nodes    int64         `json:"nodes"`
	Edges    int64         `json:"edges"`
	Batches  int64         `json:"batches"`
	Duration time.Duration `json:"duration_ns"`
	// CommittedLines is the number of the last line whose batch is
	// committed; --skip CommittedLines resumes after it.
	CommittedLines int64  `json:"committed_lines"`
	Error          string `json:"error,omitempty"`
	FailedLine     int64  `json:"failed_line,omitempty"`
	Resume         string `json:"resume,omitempty"`
}

// importError is an import that stopped at a line.
type importError struct {
	line       int64 // the bad line (0: not a line's fault)
	batchStart int64 // first line of the batch that was not written
	batchEnd   int64 // last line read of it
	committed  int64 // last line committed
	skip       int64
	err        error
}

func (e *importError) Error() string { return e.err.Error() }
func (e *importError) Unwrap() error { return e.err }

func runImport(e *env, fs *flag.FlagSet) error {
	if fs.NArg() != 1 {
		return usagef("want one FILE, or - for stdin")
	}
	batch, skip := intFlag(fs, "batch"), intFlag(fs, "skip")
	if batch < 1 || batch > maxBatch {
		return usagef("--batch is %d: want 1 to %d", batch, maxBatch)
	}
	if skip < 0 {
		return usagef("--skip is %d: want 0 or more", skip)
	}
	prog, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	name := fs.Arg(0)
	in := e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("resonance: import: %w", err)
		}
		defer f.Close()
		in = f
	}
	// The progress line counts the bytes read against the input's size
	// when it has one: a file, or stdin redirected from a file (not a pipe).
	cr := &countingReader{r: in, total: regularSize(in)}
	s, err := openStore(e, resonance.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	res := importResult{DB: s.Path(), File: name}
	ierr := importStream(e.ctx, s, cr, int64(skip), batch, prog, &res)
	prog.clear()
	res.Duration = prog.elapsed()
	if ierr != nil {
		msg := importFailure(e, &res, ierr)
		if e.json {
			writeJSON(e.stdout, res)
		}
		fmt.Fprintln(e.stderr, msg)
		return checkFailed{ierr}
	}
	if err := printImport(e, res); err != nil {
		return err
	}
	return s.Close()
}

// importFailure fills the failure fields of res and returns the message:
// what went wrong, what was not written, what is committed, how to resume.
func importFailure(e *env, res *importResult, err error) string {
	var ie *importError
	if !errors.As(err, &ie) {
		res.Error = err.Error()
		return err.Error()
	}
	res.FailedLine = ie.line
	res.CommittedLines = ie.committed
	var b strings.Builder
	fmt.Fprintf(&b, "resonance: import %q: %v", res.File, ie.err)
	if ie.batchEnd >= ie.batchStart && ie.batchStart > 0 {
		fmt.Fprintf(&b, "; nothing of its batch (lines %d–%d) was written", ie.batchStart, ie.batchEnd)
	}
	if ie.committed > ie.skip {
		fmt.Fprintf(&b, "; lines %d–%d are committed (%s, %s)", ie.skip+1, ie.committed, plural(res.Nodes, "node"), plural(res.Edges, "edge"))
	} else {
		b.WriteString("; this run committed nothing")
	}
	res.Resume = fmt.Sprintf("%s --skip %d %s", fsfix.Command("import", e.dbPath, e.options(resonance.Options{}).Migrations, e.external), ie.committed, shellQuote(res.File))
	if ie.line > 0 {
		fmt.Fprintf(&b, "; fix line %d and resume with: %s", ie.line, res.Resume)
	} else {
		fmt.Fprintf(&b, "; resume with: %s", res.Resume)
	}
	res.Error = b.String()
	return res.Error
}

// lineRecord is a parsed line waiting for its batch's transaction.
type lineRecord struct {
	line int64
	rec  jsonl.Record
}

// importStream imports r into s: it skips the first skip lines, then
// reads batches of batch lines, parses each batch completely, and writes it
// in one transaction. res is updated as batches commit.
func importStream(ctx context.Context, s *resonance.Store, r *countingReader, skip int64, batch int, prog *progress, res *importResult) error {
	sc := bufio.NewScanner(jsonl.SkipBOM(r))
	sc.Buffer(make([]byte, 0, 64<<10), jsonl.MaxLineBytes)
	var line int64
	for line < skip && sc.Scan() {
		line++
	}
	skip = line // fewer when the input ends first
	res.Lines, res.Skipped, res.CommittedLines = line, line, line
	var recs []lineRecord // grows with the input, never to --batch up front
	var run []resonance.Node
	for {
		recs = recs[:0]
		start, eof := line+1, false
		for range batch {
			if !sc.Scan() {
				eof = true
				break
			}
			line++
			rec, err := jsonl.ParseLine(sc.Bytes())
			if err != nil {
				var pe *jsonl.Error
				if errors.As(err, &pe) {
					pe.Line = int(line)
				}
				// The batch would have run to start+batch-1: none of it is written.
				return &importError{line: line, batchStart: start, batchEnd: start + int64(batch) - 1, committed: res.CommittedLines, skip: skip, err: bare(err)}
			}
			if !rec.Blank() {
				recs = append(recs, lineRecord{line, rec})
			}
		}
		if eof {
			if err := sc.Err(); err != nil {
				if errors.Is(err, bufio.ErrTooLong) {
					err = fmt.Errorf("line %d: longer than %d bytes", line+1, jsonl.MaxLineBytes)
					return &importError{line: line + 1, batchStart: start, batchEnd: line + 1, committed: res.CommittedLines, skip: skip, err: bare(err)}
				}
				return &importError{batchStart: start, batchEnd: line, committed: res.CommittedLines, skip: skip, err: fmt.Errorf("reading after line %d: %w", line, err)}
			}
		}
		if len(recs) > 0 {
			var nodes, edges int64
			var failed int64
			err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
				for i := 0; i < len(recs); {
					if lr := recs[i]; lr.rec.Kind == jsonl.KindEdge {
						if err := tx.UpsertSemanticEdge(ctx, lr.rec.Edge); err != nil {
							failed = lr.line
							return fmt.Errorf("line %d: %w", lr.line, bare(err))
						}
						edges++
						i++
						continue
					}
					// A run of nodes goes in one UpsertNodes, 32 rows a
					// statement.
					j := i
					run = run[:0]
					for ; j < len(recs) && recs[j].rec.Kind == jsonl.KindNode; j++ {
						run = append(run, recs[j].rec.Node)
					}
					if err := tx.UpsertNodes(ctx, run); err != nil {
						// Name the line: the first node that fails on its
						// own (the transaction rolls back either way).
						for _, lr := range recs[i:j] {
							if err := tx.UpsertNode(ctx, lr.rec.Node); err != nil {
								failed = lr.line
								return fmt.Errorf("line %d: %w", lr.line, bare(err))
							}
						}
						failed = recs[i].line
						return fmt.Errorf("lines %d–%d: %w", recs[i].line, recs[j-1].line, bare(err))
					}
					nodes += int64(j - i)
					i = j
				}
				return nil
			})
			if err != nil {
				return &importError{line: failed, batchStart: start, batchEnd: line, committed: res.CommittedLines, skip: skip, err: bare(err)}
			}
			res.Nodes += nodes
			res.Edges += edges
			res.Batches++
		}
		res.Lines, res.CommittedLines = line, line
		n := line - skip
		read := plural(n, "line")
		if r.total > 0 {
			read = prog.of(r.n, r.total, humanBytes) + ", " + read
		}
		prog.draw(fmt.Sprintf("import: %s, %s, %s, %s lines/s",
			read, plural(res.Nodes, "node"), plural(res.Edges, "edge"), thousands(int64(prog.rate(n)))), eof)
		if eof {
			return nil
		}
	}
}

func printImport(e *env, res importResult) error {
	if e.json {
		return writeJSON(e.stdout, res)
	}
	n := res.Lines - res.Skipped
	fmt.Fprintf(e.stdout, "imported %s and %s from %s of %s into %s in %v (%s lines/s, %s)\n",
		plural(res.Nodes, "node"), plural(res.Edges, "edge"), plural(n, "line"), res.File, res.DB,
		res.Duration.Round(time.Millisecond), thousands(int64(float64(n)/max(res.Duration.Seconds(), 1e-9))), plural(int64(res.Batches), "transaction"))
	if res.Skipped > 0 {
		fmt.Fprintf(e.stdout, "skipped the first %s (--skip)\n", plural(res.Skipped, "line"))
	}
	return nil
}

// exampleResult says what init --example did.
type exampleResult struct {
	Imported bool   `json:"imported"`
	Nodes    int64  `json:"nodes"`
	Edges    int64  `json:"edges"`
	Note     string `json:"note,omitempty"`
}

// importExample imports the bundled example graph in one transaction,
// unless its first node is there already (so init --example is idempotent
// and adds no history rows the second time).
func importExample(ctx context.Context, s *resonance.Store) (exampleResult, error) {
	var r exampleResult
	err := s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		if _, err := tx.GetNode(ctx, example.FirstNodeID); err == nil {
			r.Note = "the example graph is already imported"
			return nil
		} else if !errors.Is(err, resonance.ErrNotFound) {
			return err
		}
		sc := jsonl.NewScanner(bytes.NewReader(example.Graph))
		for sc.Scan() {
			rec := sc.Record()
			var err error
			// Never replace what the user wrote: a node or edge with one
			// of the example's keys refuses the whole import.
			switch rec.Kind {
			case jsonl.KindNode:
				if _, gerr := tx.GetNode(ctx, rec.Node.ID); gerr == nil {
					return fmt.Errorf("node %q exists already: --example would replace it; import the example into a new database", rec.Node.ID)
				} else if !errors.Is(gerr, resonance.ErrNotFound) {
					return gerr
				}
				err = tx.UpsertNode(ctx, rec.Node)
				r.Nodes++
			case jsonl.KindEdge:
				out, oerr := tx.OutgoingEdges(ctx, rec.Edge.Source)
				if oerr != nil {
					return oerr
				}
				for _, o := range out {
					if o.Target == rec.Edge.Target && o.Type == rec.Edge.Type {
						return fmt.Errorf("edge %q -> %q (%s) exists already: --example would replace it; import the example into a new database", o.Source, o.Target, o.Type)
					}
				}
				err = tx.UpsertSemanticEdge(ctx, rec.Edge)
				r.Edges++
			}
			if err != nil {
				return fmt.Errorf("example graph line %d: %w", sc.Line(), err)
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("example graph: %w", err)
		}
		r.Imported = true
		return nil
	})
	if err != nil {
		return exampleResult{}, fmt.Errorf("resonance: init --example %q: %w", s.Path(), bare(err))
	}
	return r, nil
}

// exportResult is what export prints when it writes to a file.
type exportResult struct {
	DB       string        `json:"db"`
	File     string        `json:"file"`
	Nodes    int64         `json:"nodes"`
	Edges    int64         `json:"edges"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// edgesQuery lists every edge in key order. No generated query lists all
// edges (OutgoingEdges per node would miss edges whose source node does
// not exist, which the store allows), so export runs it through the Tx.
const edgesQuery = `SELECT source, target, type, confidence, veracity, coalesce(context_source, '') FROM edges ORDER BY source, target, type`

func runExport(e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 1 {
		return usagef("want at most one FILE (default -, stdout)")
	}
	page := intFlag(fs, "page")
	if page < 1 || page > maxPage {
		return usagef("--page is %d: want 1 to %d", page, maxPage)
	}
	format, root, depth := stringFlag(fs, "format"), stringFlag(fs, "root"), intFlag(fs, "depth")
	switch {
	case format != "jsonl" && format != "dot":
		return usagef("--format is %q: want jsonl or dot", format)
	case root != "" && format != "dot":
		return usagef("--root draws a neighbourhood: it needs --format dot")
	case depth < 1 || depth > 6:
		return usagef("--depth is %d: want 1 to 6", depth)
	}
	prog, err := newProgress(e, stringFlag(fs, "progress"))
	if err != nil {
		return err
	}
	name := "-"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	s, err := openStore(e, resonance.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()

	var out io.Writer = e.stdout
	var file *output.File
	if name != "-" {
		// O5: the database, its companions, devices and directories are
		// refused here, before anything is written.
		file, err = output.Create(s.Path(), name, boolFlag(fs, "force"))
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("resonance: export: output %q: %w; or pass --force to replace it", name, err)
			}
			return fmt.Errorf("resonance: export: output %q: %w", name, err)
		}
		defer file.Abort() // after Commit there is nothing left to remove
		out = file
	}
	cw := &countingWriter{w: out}
	if format == "dot" {
		return exportDOT(e, s, cw, file, name, root, depth)
	}
	w := jsonl.NewWriter(cw)
	res := exportResult{DB: s.Path(), File: name}
	var total int64 // nodes and edges in the snapshot, for the progress line
	draw := func(force bool) {
		prog.draw(fmt.Sprintf("export: rows %s (%s, %s), %s", prog.of(res.Nodes+res.Edges, total, thousands),
			plural(res.Nodes, "node"), plural(res.Edges, "edge"), humanBytes(cw.n)), force)
	}
	err = s.Read(e.ctx, func(ctx context.Context, tx *resonance.ReadTx) error {
		if prog.on {
			err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM nodes) + (SELECT count(*) FROM edges)`).Scan(&total)
			if err != nil {
				return err
			}
		}
		for off := 0; ; off += page {
			nodes, err := tx.GetNodes(e.ctx, resonance.NodeFilter{Limit: page, Offset: off})
			if err != nil && nodes != nil && errors.Is(err, resonance.ErrInvalid) {
				// Stored embeddings that are not whole finite float32
				// vectors: the nodes are written without them, and said.
				fmt.Fprintf(e.stderr, "resonance: export %q: warning: %v\n", s.Path(), bare(err))
			} else if err != nil {
				return err
			}
			for _, n := range nodes {
				if err := w.WriteNode(n); err != nil {
					return err
				}
				res.Nodes++
			}
			draw(false)
			if len(nodes) < page {
				break
			}
		}
		rows, err := tx.QueryContext(e.ctx, edgesQuery)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ed resonance.Edge
			if err := rows.Scan(&ed.Source, &ed.Target, &ed.Type, &ed.Confidence, &ed.Veracity, &ed.ContextSource); err != nil {
				return err
			}
			if err := w.WriteEdge(ed); err != nil {
				return err
			}
			res.Edges++
			if res.Edges%1000 == 0 {
				draw(false)
			}
		}
		return rows.Err()
	})
	if err == nil {
		err = w.Flush()
	}
	draw(true)
	prog.clear()
	if cw.err != nil && file == nil {
		return fmt.Errorf("resonance: export: writing to stdout: %w", cw.err)
	}
	if cw.err != nil {
		return writeFailure("export", name, cw.err)
	}
	if err != nil {
		return fmt.Errorf("resonance: export %q: %w", s.Path(), bare(err))
	}
	if file != nil {
		if err := file.Commit(); err != nil {
			return writeFailure("export", name, err)
		}
	}
	res.Bytes, res.Duration = cw.n, prog.elapsed()
	if name == "-" {
		// stdout carries the data: the summary must not mix into it.
		if isTerminal(e.stderr) {
			fmt.Fprintf(e.stderr, "exported %s and %s\n", plural(res.Nodes, "node"), plural(res.Edges, "edge"))
		}
	} else if e.json {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "exported %s and %s from %s to %s (%s) in %v\n",
			plural(res.Nodes, "node"), plural(res.Edges, "edge"), res.DB, name, humanBytes(res.Bytes), res.Duration.Round(time.Millisecond))
	}
	return s.Close()
}

// countingWriter counts the bytes written and keeps the first write error.
// countingReader counts the bytes read from r, for the progress line;
// total is the size of the input, 0 when unknown.
type countingReader struct {
	r        io.Reader
	n, total int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// regularSize is the size of r when it is a regular file, else 0.
func regularSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// writeFailure reports an error writing the output file name of op: by
// the file's name, not the temporary file's, with the fix for a full disk.
// The file was left as it was.
func writeFailure(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // names the temporary file
	}
	fix := ""
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		fix = fmt.Sprintf(": the file system holding %s is full; free space there or write elsewhere", filepath.Dir(name))
	}
	return fmt.Errorf("resonance: %s: writing %q: %w%s; nothing was changed at %q", op, name, err, fix, name)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
