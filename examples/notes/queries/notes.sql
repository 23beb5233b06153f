-- name: AddNote :one
INSERT INTO notes (node_id, body) VALUES (?, ?)
RETURNING id;

-- name: NotesOf :many
-- word_count is registered on every connection by the application's
-- connect hook (see main.go).
SELECT notes.id, notes.body, CAST(word_count(notes.body) AS INTEGER) AS words, nodes.title
FROM notes JOIN nodes ON nodes.id = notes.node_id
WHERE notes.node_id = ?
ORDER BY notes.id;

-- name: CountNotes :one
SELECT count(*) FROM notes;

-- name: SearchNotes :many
-- The notes whose body matches an FTS5 query, best match first.
SELECT notes.id, notes.node_id, notes.body
FROM notes_search JOIN notes ON notes.id = notes_search.rowid
WHERE notes_search.body MATCH sqlc.arg(query)
ORDER BY notes_search.rank;
