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

-- OutgoingEdges compares with CAST(? AS TEXT), not a bare ?: beside an
-- ORDER BY, SQLite's planner marks a bare parameter as one whose value may
-- change the plan, so every new binding expires the statement, and
-- go-sqlite3 clears the bindings before each run. The bare form was
-- compiled anew on every call (most of its cost); the plan is the same
-- index search. It does not read back the source it was given.
-- name: OutgoingEdges :many
SELECT target, type, confidence, veracity, context_source
FROM edges
WHERE source = CAST(sqlc.arg(source) AS TEXT)
ORDER BY target, type;

-- IncomingEdges: as OutgoingEdges, for the target.
-- name: IncomingEdges :many
SELECT source, type, confidence, veracity, context_source
FROM edges
WHERE target = CAST(sqlc.arg(target) AS TEXT)
ORDER BY source, type;

-- name: CountEdges :one
SELECT count(*) FROM edges;

-- OutgoingEdgesOf is OutgoingEdges for many sources in one statement: the
-- sources are a JSON array of strings, and the rows come in key order
-- (source, target, type), each source's edges together.
-- name: OutgoingEdgesOf :many
SELECT source, target, type, confidence, veracity, context_source
FROM edges
WHERE source IN (SELECT value FROM json_each(CAST(sqlc.arg(sources) AS TEXT)))
ORDER BY source, target, type;

-- DeleteEdgesOfNodes deletes every edge whose source or target is one of
-- the ids (a JSON array of hex strings, as the node deletes take them) and
-- returns each one as it was, for its history row.
-- name: DeleteEdgesOfNodes :many
DELETE FROM edges
WHERE source IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(CAST(sqlc.arg(ids) AS TEXT)))
   OR target IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(CAST(sqlc.arg(ids) AS TEXT)))
RETURNING source, target, type, confidence, veracity, context_source;

-- name: DeleteEdge :one
DELETE FROM edges
WHERE source = ? AND target = ? AND type = ?
RETURNING confidence, veracity, context_source;
