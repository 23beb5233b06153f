module github.com/resonance-graph/resonancedb/tools/dbmate

go 1.26.0

require github.com/amacneil/dbmate/v2 v2.28.0

require (
	github.com/lib/pq v1.10.9 // indirect
	github.com/mattn/go-sqlite3 v1.14.53 // indirect
)
