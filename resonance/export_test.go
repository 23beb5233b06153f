package resonance

// The embedding codec, for the external tests of its format (D8).
var (
	EncodeEmbedding = encodeEmbedding
	DecodeEmbedding = decodeEmbedding
)
