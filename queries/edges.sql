-- name: InsertEdge :execrows
INSERT OR IGNORE INTO edges (source, target, type)
VALUES (?, ?, ?);

-- name: UpsertSemanticEdge :exec
INSERT INTO edges (source, target, type, confidence, veracity, context_source)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (source, target, type) DO UPDATE SET
    confidence = excluded.confidence,
    veracity = excluded.veracity,
    context_source = excluded.context_source;

-- name: OutgoingEdges :many
SELECT source, target, type, confidence, veracity, context_source
FROM edges
WHERE source = ?
ORDER BY target, type;

-- name: IncomingEdges :many
SELECT source, target, type, confidence, veracity, context_source
FROM edges
WHERE target = ?
ORDER BY source, type;

-- name: CountEdges :one
SELECT count(*) FROM edges;
