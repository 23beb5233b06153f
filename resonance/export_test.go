package resonance

// EncodeEmbedding is the embedding encoder, for the external tests of its
// format (D8).
var EncodeEmbedding = encodeEmbedding
