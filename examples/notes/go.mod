module github.com/resonance-graph/resonancedb/examples/notes

go 1.26

require (
	github.com/mattn/go-sqlite3 v1.14.53
	github.com/resonance-graph/resonancedb v0.0.0-00010101000000-000000000000
)

require github.com/amacneil/dbmate/v2 v2.28.0 // indirect

tool github.com/resonance-graph/resonancedb/cmd/resonance

// The example builds against this checkout; an application requires a
// released version instead and has no replace.
replace github.com/resonance-graph/resonancedb => ../..
