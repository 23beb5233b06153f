-- name: InsertHistory :exec
INSERT INTO history (entity_type, entity_id, action, old_value, new_value)
VALUES (?, ?, ?, ?, ?);

-- name: ListHistory :many
SELECT id, entity_type, entity_id, action, old_value, new_value, timestamp
FROM history
WHERE entity_type = CAST(sqlc.arg(entity_type) AS TEXT)
  AND entity_id = CAST(sqlc.arg(entity_id) AS TEXT)
ORDER BY id;

-- name: CountHistory :one
SELECT count(*) FROM history;
