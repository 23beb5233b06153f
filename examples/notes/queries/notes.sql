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
