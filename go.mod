module github.com/resonance-graph/resonancedb

go 1.26

require (
	github.com/amacneil/dbmate/v2 v2.28.0
	github.com/google/go-cmp v0.7.0
	github.com/mattn/go-sqlite3 v1.14.53
)
