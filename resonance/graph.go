package resonance

import "encoding/json"

// Node is a document or concept of the Resonance Graph.
type Node struct {
	ID     string // required
	Type   string // required
	Title  string
	Domain string // empty means "knowledge"
	Layer  string // empty means "experience"
	// Embedding is stored as raw little-endian float32 bytes and comes back
	// bit for bit. NaN and ±Inf are refused.
	Embedding []float32
	Hash      string
	Summary   string
	// Meta is kept as raw JSON so scans never pay for decoding it; decode
	// it into your own type. It must be a JSON object or empty.
	Meta json.RawMessage
	Date string
}

// Edge is a typed link from Source to Target. (Source, Target, Type) is its key.
type Edge struct {
	Source        string  `json:"source"`
	Target        string  `json:"target"`
	Type          string  `json:"type"`       // empty means "related_to"
	Confidence    float64 `json:"confidence"` // stored as given, 0 included (UpsertSemanticEdge); 1 where absent
	Veracity      float64 `json:"veracity"`   // stored as given, 0 included (UpsertSemanticEdge); 1 where absent
	ContextSource string  `json:"context_source,omitempty"`
}

// NodeFilter selects nodes for GetNodes. Empty fields do not filter.
type NodeFilter struct {
	Domain string
	Type   string
	Limit  int // 0 means no limit
	Offset int
	// SkipEmbedding leaves Embedding nil and does not read the column, for
	// metadata scans.
	SkipEmbedding bool
}

// Stats describes the graph and its files (D6).
type Stats struct {
	Nodes          int64 `json:"nodes"`
	Edges          int64 `json:"edges"`
	Vectors        int64 `json:"vectors"`         // nodes with an embedding
	SemanticTokens int64 `json:"semantic_tokens"` // nodes whose meta has a semantic_tokens key
	DBSizeBytes    int64 `json:"db_size_bytes"`   // page_count × page_size
	WALSizeBytes   int64 `json:"wal_size_bytes"`  // size of the -wal file
}

// LexiconEntry is a concept of the lexicon domain (D5).
type LexiconEntry struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Aliases    []string `json:"aliases"`
	Definition string   `json:"definition"`
}

// Defaults applied to nodes and edges written without them.
const (
	defaultDomain   = "knowledge"
	defaultLayer    = "experience"
	defaultEdgeType = "related_to"
)
