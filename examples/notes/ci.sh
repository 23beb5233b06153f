#!/bin/sh
# ci.sh is what this application's CI runs, from a fresh clone: the
# generated code is current, the code is vetted and tested, and the
# library's conformance checks pass on a database the program made.
#
# SQLC and DBMATE name the sqlc and dbmate binaries; by default sqlc runs
# at the version the go:generate line pins, and the dbmate step is skipped.
set -eu
cd "$(dirname "$0")"
SQLC=${SQLC:-go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1}
resonance() { go tool resonance "$@"; }

echo "ci: the library's migrations in resonance-schema/ match the library in go.mod"
resonance schema --check resonance-schema
echo "ci: notesdb/ is what sqlc generates from the combined schema"
$SQLC diff

echo "ci: format, vet, test"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go test -race -count=1 ./...

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RESONANCE_DB="$work/notes.db"
echo "ci: the program writes a node and a note, and reads both back"
go build -o "$work/notes" .
"$work/notes" -db "$RESONANCE_DB" doc-1 "First document" "the library keeps the graph"
"$work/notes" -db "$RESONANCE_DB" doc-1 "First document" "the application keeps its notes"

echo "ci: conformance checks on the application's database"
resonance --migrations migrations doctor --conformance
resonance --migrations migrations migrate status
resonance --migrations migrations health
resonance --migrations migrations backup --verify "$work/backup.db"

if [ -n "${DBMATE:-}" ]; then
	echo "ci: dbmate, given both directories, finds everything applied"
	status=$("$DBMATE" --url "sqlite:$RESONANCE_DB" --migrations-dir resonance-schema --migrations-dir migrations --no-dump-schema status)
	echo "$status"
	echo "$status" | grep -q '^Pending: 0$'
fi
echo "ci: ok"
