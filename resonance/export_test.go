package resonance

import "testing"

// EncodeEmbedding is the embedding encoder, for the external tests of its
// format (D8).
var EncodeEmbedding = encodeEmbedding

// AdoptChunk is the rows a statement of the copy of an original's rows
// inserts, as the package sets it.
var AdoptChunk = adoptChunk

// SetAdoptChunk makes the copy of an original's rows insert n rows a
// statement until the test ends, so that a small original is copied in
// many chunks. Tests of this package do not run in parallel.
func SetAdoptChunk(t testing.TB, n int64) {
	old := adoptChunk
	adoptChunk = n
	t.Cleanup(func() { adoptChunk = old })
}

// SetVectorSnapshotPartBytes makes the snapshots that s writes of its
// search copy hold about n bytes a part, so that a small graph's snapshot
// has many parts.
func SetVectorSnapshotPartBytes(s *Store, n int) { s.vindex.partBytes = n }
