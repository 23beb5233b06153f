-- name: UpsertEmberState :exec
INSERT INTO ember_state (file_path, last_analyzed, sidecar_created, confidence)
VALUES (?, ?, ?, ?)
ON CONFLICT (file_path) DO UPDATE SET
    last_analyzed = excluded.last_analyzed,
    sidecar_created = excluded.sidecar_created,
    confidence = excluded.confidence;

-- name: GetEmberState :one
SELECT file_path, last_analyzed, sidecar_created, confidence
FROM ember_state
WHERE file_path = ?;
