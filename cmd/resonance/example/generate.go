package example

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
	"github.com/resonance-graph/resonancedb/resonance/jsonl"
)

// Dim is the length of every embedding in the example graph.
const Dim = 384

// The generator's fixed PCG seed: the same bytes on every run and machine.
const seed1, seed2 = 0x5245534f, 0x4e414e43

type concept struct {
	slug, label, definition string
	aliases                 []string
}

type topic struct {
	key, name string
	concepts  []concept
	code      []string // source files, relative to src/<key>/
}

// topics is what the example graph is about: the things resonancedb itself
// deals with, so the graph reads sensibly in the README.
var topics = []topic{
	{"wal", "the write-ahead log", []concept{
		{"write-ahead-log", "Write-ahead log", "A file of committed changes that SQLite appends to before they reach the database file, so readers keep reading while one writer writes.", []string{"WAL", "wal file", "journal"}},
		{"checkpoint", "Checkpoint", "Copying the frames of the write-ahead log back into the database file; TRUNCATE also empties the log.", []string{"wal_checkpoint", "checkpointing"}},
		{"shared-memory-index", "Shared-memory index", "The -shm file that maps pages to WAL frames; every connection, even a reader, must be able to write it.", []string{"shm", "-shm file", "wal-index"}},
		{"readonly-trap", "Readonly trap", "A reader that cannot write the directory works while another process keeps -shm alive, and fails once it is gone.", []string{"attempt to write a readonly database"}},
	}, []string{"checkpoint.go", "frames.go", "recovery.go", "autocheckpoint.go", "shm.go", "wal_size.go", "replicator.go", "truncate.go", "readonly.go", "wal_test.go"}},
	{"locking", "locks and transactions", []concept{
		{"busy-timeout", "Busy timeout", "How long a connection waits for a lock held by another before it gives up with SQLITE_BUSY.", []string{"busy_timeout", "SQLITE_BUSY"}},
		{"immediate-transaction", "Immediate transaction", "A transaction that takes the write lock when it begins, so a second writer waits instead of failing on a lock upgrade.", []string{"BEGIN IMMEDIATE", "write transaction"}},
		{"snapshot", "Snapshot", "The consistent view of the database a read transaction sees from its first read until it ends.", []string{"read snapshot", "snapshot isolation"}},
		{"long-transaction", "Long transaction", "A transaction held open longer than half the busy timeout, which makes other writers time out.", []string{"lock holder", "stalled writer"}},
	}, []string{"tx.go", "begin.go", "busy.go", "savepoint.go", "reader_pool.go", "writer.go", "deadline.go", "lock_test.go", "goid.go", "metrics.go"}},
	{"migrations", "schema migrations", []concept{
		{"migration", "Migration", "A numbered SQL file with an up and a down part that moves the schema one version forward.", []string{"dbmate migration", "schema change"}},
		{"schema-version", "Schema version", "The set of migration versions recorded in schema_migrations; a binary refuses a database holding versions it does not know.", []string{"schema_migrations", "user_version"}},
		{"migration-lock", "Migration lock", "What makes two processes opening a fresh database apply each migration exactly once.", []string{"exactly once"}},
		{"pre-migration-backup", "Pre-migration backup", "A consistent copy written beside the database before a migration changes it, the newest seven kept.", []string{"backup before migrate"}},
	}, []string{"migrate.go", "status.go", "apply.go", "parse.go", "lock.go", "retention.go", "mismatch.go", "embed.go", "down.go", "migrate_test.go"}},
	{"embeddings", "embeddings and similarity", []concept{
		{"embedding", "Embedding", "A vector of float32 values standing for a node's meaning, stored as little-endian bytes.", []string{"vector", "embedding vector"}},
		{"normalisation", "Normalisation", "Scaling a vector to unit length so that its dot product with another is their cosine similarity.", []string{"L2 normalisation", "unit vector"}},
		{"cosine-similarity", "Cosine similarity", "How alike two vectors point, from -1 to 1; for unit vectors it is their dot product.", []string{"dot product", "similarity"}},
		{"semantic-token", "Semantic token", "A term extracted from a document that names what it is about, kept in meta.semantic_tokens.", []string{"semantic_tokens", "keyword"}},
	}, []string{"vector.go", "encode.go", "decode.go", "normalise.go", "dot.go", "search.go", "tokens.go", "blob.go", "batch.go", "vector_test.go"}},
	{"backup", "backups and maintenance", []concept{
		{"online-backup", "Online backup", "A consistent copy of the database taken while writers keep writing.", []string{"hot backup", "backup"}},
		{"vacuum", "Vacuum", "Rebuilding the database file to drop free pages; VACUUM INTO writes the rebuilt copy elsewhere.", []string{"VACUUM", "VACUUM INTO"}},
		{"integrity-check", "Integrity check", "PRAGMA integrity_check: every page, index and constraint verified; it returns ok or a list of problems.", []string{"integrity_check", "corruption check"}},
		{"retention", "Retention", "How many backups are kept before the oldest are removed.", []string{"backup rotation"}},
	}, []string{"backup.go", "vacuum.go", "analyze.go", "optimize.go", "integrity.go", "incremental.go", "rotate.go", "progress.go", "copy.go", "backup_test.go"}},
	{"graph", "the Resonance Graph", []concept{
		{"node", "Node", "A document or concept of the graph, with a type, a domain, a layer, an optional embedding and JSON meta.", []string{"vertex", "document"}},
		{"edge", "Edge", "A typed link from one node to another, with a confidence, a veracity and the context it came from.", []string{"link", "relation"}},
		{"lexicon", "Lexicon", "The concepts of the lexicon domain with their aliases and definitions.", []string{"glossary", "vocabulary"}},
		{"history", "History", "The audit trail: one row per change, with the old and the new value.", []string{"audit log", "change log"}},
	}, []string{"node.go", "edge.go", "lexicon.go", "history.go", "stats.go", "filter.go", "id.go", "meta.go", "import.go", "graph_test.go"}},
}

var noteTemplates = []string{
	"Why %s matters", "%s in practice", "Notes on %s", "Debugging %s", "A checklist for %s",
	"What goes wrong with %s", "Measuring %s", "%s on a busy server", "%s explained to a new colleague",
	"Questions about %s", "%s versus the alternatives", "Lessons from %s",
}

var opsTemplates = []string{
	"Incident: %s stalled the writers", "Runbook: %s", "Postmortem: %s after a deploy", "Alert: %s out of bounds",
	"Runbook: recovering from %s", "Incident: %s on a replica",
}

// gen holds the state of one run of the generator.
type gen struct {
	rng      *rand.Rand
	nodes    []resonance.Node
	edges    []resonance.Edge
	edgeSeen map[[3]string]bool
	vec      map[string][]float64 // unnormalised embedding of each node, by id
}

// Generate writes the example graph to w as JSON Lines: nodes first, then
// edges. The output is the same on every run: a fixed PCG seed, and
// arithmetic written so that the compiler cannot fuse it differently on
// other machines.
func Generate(w io.Writer) error {
	g := &gen{rng: rand.New(rand.NewPCG(seed1, seed2)), edgeSeen: map[[3]string]bool{}, vec: map[string][]float64{}}
	g.build()
	jw := jsonl.NewWriter(w)
	for _, n := range g.nodes {
		if err := jw.WriteNode(n); err != nil {
			return err
		}
	}
	for _, e := range g.edges {
		if err := jw.WriteEdge(e); err != nil {
			return err
		}
	}
	return jw.Flush()
}

func (g *gen) build() {
	base := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	date := func() string { return base.AddDate(0, 0, g.rng.IntN(540)).Format("2006-01-02") }

	// Lexicon concepts: near their topic's centroid.
	centroids := make([][]float64, len(topics))
	conceptIDs := make([][]string, len(topics))
	for ti, t := range topics {
		centroids[ti] = g.randomVec(1)
		for _, c := range t.concepts {
			id := resonance.GenerateID("lexicon/" + c.slug)
			meta := map[string]any{"aliases": c.aliases, "definition": c.definition, "topic": t.key}
			if len(conceptIDs[ti])%2 == 0 {
				meta["semantic_tokens"] = tokens(c.label, t.key)
			}
			g.addNode(resonance.Node{ID: id, Type: "concept", Title: c.label, Domain: "lexicon", Layer: "reference",
				Summary: c.definition, Meta: mustJSON(meta), Date: date()}, mix(centroids[ti], 1, g.randomVec(1), 0.6))
			conceptIDs[ti] = append(conceptIDs[ti], id)
		}
	}
	// Concepts of a topic are part of its first one; first concepts of
	// neighbouring topics are related.
	for ti := range topics {
		for _, id := range conceptIDs[ti][1:] {
			g.addEdge(id, conceptIDs[ti][0], "part_of", "lexicon")
		}
		g.addEdge(conceptIDs[ti][0], conceptIDs[(ti+1)%len(topics)][0], "related_to", "lexicon")
	}

	// Notes (domain knowledge): near their topic and two of its concepts.
	noteIDs := make([][]string, len(topics))
	for ti, t := range topics {
		for i := range 29 {
			c1 := g.rng.IntN(len(t.concepts))
			c2 := (c1 + 1 + g.rng.IntN(len(t.concepts)-1)) % len(t.concepts)
			subject := strings.ToLower(t.concepts[c1].label)
			title := fmt.Sprintf(noteTemplates[g.rng.IntN(len(noteTemplates))], subject)
			title = strings.ToUpper(title[:1]) + title[1:]
			path := fmt.Sprintf("notes/%s/%02d-%s.md", t.key, i+1, title)
			id := resonance.GenerateID(path)
			layer := "experience"
			if g.rng.IntN(3) == 0 {
				layer = "insight"
			}
			summary := fmt.Sprintf("How %s and %s relate, in %s.", subject, strings.ToLower(t.concepts[c2].label), t.name)
			meta := map[string]any{"path": path, "tags": []string{t.key, t.concepts[c1].slug}, "words": 200 + g.rng.IntN(2800)}
			if i%3 == 0 {
				meta["semantic_tokens"] = tokens(t.concepts[c1].label, t.concepts[c2].label)
			}
			typ := []string{"note", "guide", "decision"}[g.rng.IntN(3)]
			v := mix(mix(centroids[ti], 1, g.vec[conceptIDs[ti][c1]], 0.5), 1, g.randomVec(1), 0.9)
			g.addNode(resonance.Node{ID: id, Type: typ, Title: title, Layer: layer, Summary: summary, Meta: mustJSON(meta), Date: date()}, v)
			g.addEdge(id, conceptIDs[ti][c1], "mentions", path)
			g.addEdge(id, conceptIDs[ti][c2], "mentions", path)
			if len(noteIDs[ti]) > 0 {
				g.addEdge(id, noteIDs[ti][g.rng.IntN(len(noteIDs[ti]))], "related_to", path)
			}
			noteIDs[ti] = append(noteIDs[ti], id)
		}
	}

	// Source files (domain code), each documented by notes of its topic.
	codeIDs := make([][]string, len(topics))
	for ti, t := range topics {
		for _, f := range t.code {
			path := "src/" + t.key + "/" + f
			id := resonance.GenerateID(path)
			typ := "source"
			if strings.HasSuffix(f, "_test.go") {
				typ = "test"
			}
			c := g.rng.IntN(len(t.concepts))
			meta := map[string]any{"path": path, "language": "go", "lines": 40 + g.rng.IntN(560)}
			v := mix(centroids[ti], 1, g.randomVec(1), 1.1)
			g.addNode(resonance.Node{ID: id, Type: typ, Title: path, Domain: "code", Layer: "implementation",
				Summary: fmt.Sprintf("Go code for %s.", strings.ToLower(t.concepts[c].label)), Meta: mustJSON(meta), Date: date()}, v)
			g.addEdge(id, conceptIDs[ti][c], "implements", path)
			for range 1 + g.rng.IntN(2) {
				g.addEdge(id, noteIDs[ti][g.rng.IntN(len(noteIDs[ti]))], "documented_by", path)
			}
			codeIDs[ti] = append(codeIDs[ti], id)
		}
	}

	// Incidents and runbooks (domain ops), affecting code of their topic.
	for ti, t := range topics {
		for i := range 6 {
			c := g.rng.IntN(len(t.concepts))
			title := fmt.Sprintf(opsTemplates[i], strings.ToLower(t.concepts[c].label))
			path := fmt.Sprintf("ops/%s/%s.md", t.key, title)
			id := resonance.GenerateID(path)
			typ := "incident"
			if strings.HasPrefix(title, "Runbook") {
				typ = "runbook"
			}
			sev := []string{"low", "medium", "high"}[g.rng.IntN(3)]
			meta := map[string]any{"path": path, "severity": sev}
			v := mix(mix(centroids[ti], 1, g.vec[conceptIDs[ti][c]], 0.4), 1, g.randomVec(1), 1)
			g.addNode(resonance.Node{ID: id, Type: typ, Title: title, Domain: "ops",
				Summary: fmt.Sprintf("What happened with %s and what to do.", strings.ToLower(t.concepts[c].label)), Meta: mustJSON(meta), Date: date()}, v)
			for range 1 + g.rng.IntN(2) {
				g.addEdge(id, codeIDs[ti][g.rng.IntN(len(codeIDs[ti]))], "affects", path)
			}
			g.addEdge(id, noteIDs[ti][g.rng.IntN(len(noteIDs[ti]))], "explained_by", path)
			g.addEdge(id, conceptIDs[ti][c], "mentions", path)
		}
	}
}

// addNode records n with the normalised form of v as its embedding and a
// hash of its content.
func (g *gen) addNode(n resonance.Node, v []float64) {
	if _, dup := g.vec[n.ID]; dup {
		panic("example: duplicate node id " + n.ID)
	}
	g.vec[n.ID] = v
	n.Embedding = normalise(v)
	sum := sha256.Sum256([]byte(n.Title + "\n" + n.Summary + "\n" + string(n.Meta)))
	n.Hash = hex.EncodeToString(sum[:16])
	g.nodes = append(g.nodes, n)
}

// addEdge adds an edge whose confidence is the similarity of its ends
// (rounded to 3 places, at least 0.05); an edge already present is skipped.
func (g *gen) addEdge(source, target, typ, context string) {
	key := [3]string{source, target, typ}
	if g.edgeSeen[key] || source == target {
		return
	}
	g.edgeSeen[key] = true
	conf := max(0.05, math.Round(dot(normalise64(g.vec[source]), normalise64(g.vec[target]))*1000)/1000)
	ver := math.Round((0.7+0.3*g.rng.Float64())*100) / 100
	g.edges = append(g.edges, resonance.Edge{Source: source, Target: target, Type: typ, Confidence: conf, Veracity: ver, ContextSource: context})
}

// randomVec returns Dim values uniform in [-scale, scale).
func (g *gen) randomVec(scale float64) []float64 {
	v := make([]float64, Dim)
	for i := range v {
		v[i] = float64(float64(g.rng.Float64()*2)-1) * scale
	}
	return v
}

// The arithmetic below converts every product explicitly: a conversion
// rounds, so the compiler may not fuse a multiply and an add into an FMA
// on machines that have one, and the output stays the same everywhere.

// mix returns a×ka + b×kb.
func mix(a []float64, ka float64, b []float64, kb float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = float64(a[i]*ka) + float64(b[i]*kb)
	}
	return out
}

func normalise64(v []float64) []float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x * x)
	}
	mag := math.Sqrt(sum)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / mag
	}
	return out
}

func normalise(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range normalise64(v) {
		out[i] = float32(x)
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

// tokens makes semantic tokens from labels: lower-case words of 3+ letters.
func tokens(labels ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range labels {
		for _, w := range strings.FieldsFunc(strings.ToLower(l), func(r rune) bool { return r < 'a' || r > 'z' }) {
			if len(w) >= 3 && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// mustJSON encodes v; map keys come out sorted, so the bytes are stable.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
