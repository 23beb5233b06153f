#!/bin/sh
# ci.sh is what this application's CI runs, from a fresh clone: the
# generated code is current, the code is vetted and tested, and the
# library's conformance checks pass on a database the program made.
#
# Every tool runs through `go tool`, at the version go.mod pins (its tool
# directives): resonance, sqlc and dbmate; nothing is needed on the PATH
# but Go and a C compiler, and no check is skipped. The notes' full-text
# index is an FTS5 table, which go-sqlite3 compiles in only with the build
# tag sqlite_fts5: every build of a binary that opens the database (the
# program, its tests, `go tool resonance`) passes it.
set -eu
cd "$(dirname "$0")"
TAGS=sqlite_fts5
resonance() { GOFLAGS="-tags=$TAGS" go tool resonance "$@"; }

echo "ci: the library's migrations in resonance-schema/ match the library in go.mod"
resonance schema --check resonance-schema
echo "ci: notesdb/ is what sqlc generates from the combined schema"
go tool sqlc diff

echo "ci: format, vet, test"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet -tags "$TAGS" ./...
go test -tags "$TAGS" -race -count=1 ./...

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RESONANCE_DB="$work/notes.db"
echo "ci: the program writes a node and a note, and reads both back"
go build -tags "$TAGS" -o "$work/notes" .
"$work/notes" -db "$RESONANCE_DB" doc-1 "First document" "the library keeps the graph"
"$work/notes" -db "$RESONANCE_DB" doc-1 "First document" "the application keeps its notes"
echo "ci: full-text search (FTS5) finds the note beside the graph"
found=$("$work/notes" -db "$RESONANCE_DB" -search application)
echo "$found"
[ "$found" = "doc-1: the application keeps its notes" ]

echo "ci: conformance checks on the application's database"
resonance --migrations migrations doctor --conformance
resonance --migrations migrations migrate status
resonance --migrations migrations health
resonance --migrations migrations backup --verify "$work/backup.db"

echo "ci: dbmate, given both directories, finds everything applied"
status=$(go tool dbmate --url "sqlite:$RESONANCE_DB" --migrations-dir resonance-schema --migrations-dir migrations --no-dump-schema status)
echo "$status"
echo "$status" | grep -q '^Pending: 0$'
echo "ci: ok"
