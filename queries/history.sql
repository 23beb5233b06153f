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

-- ListChanges reads history newest first: every row, or a node's when
-- node_id is not NULL, at or after since (text as CURRENT_TIMESTAMP
-- writes it) when it is not NULL; LIMIT -1 means no limit. The timestamp
-- comes as text: a row written by another program may hold any value.
-- name: ListChanges :many
SELECT id, entity_type, entity_id, action, old_value, new_value, CAST(timestamp AS TEXT) AS timestamp
FROM history
WHERE (sqlc.narg(node_id) IS NULL OR (entity_type = 'node' AND entity_id = sqlc.narg(node_id)))
  AND (sqlc.narg(since) IS NULL OR timestamp >= sqlc.narg(since))
ORDER BY id DESC
LIMIT CAST(sqlc.arg(limit) AS INTEGER) OFFSET CAST(sqlc.arg(offset) AS INTEGER);
