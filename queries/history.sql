-- name: InsertHistory :exec
INSERT INTO history (entity_type, entity_id, action, old_value, new_value)
VALUES (?, ?, ?, ?, ?);

-- name: ListHistory :many
SELECT id, entity_type, entity_id, action, old_value, new_value, timestamp
FROM history
WHERE entity_type = ? AND entity_id = ?
ORDER BY id;

-- name: CountHistory :one
SELECT count(*) FROM history;
