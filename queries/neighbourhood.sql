-- Neighbourhood reads, in one statement, the nodes within max_depth of
-- root and the edges among them, following outgoing edges when
-- follow_out is 1 and incoming ones when follow_in is 1, only edges whose
-- type is in types (a JSON array) when types is not NULL. Its rows come
-- sorted: first the nodes (kind 0: source is the id, distance its
-- shortest distance, root itself at 0), then the edges (kind 1). No row
-- at all: root is not a node. (The edges' branch comes first in the text
-- so that sqlc types the columns from it.)
--
-- walk holds (id, depth) pairs, each once (UNION), taken in order of depth
-- (ORDER BY 2): a node's first row has its shortest distance, and a cycle
-- ends at max_depth. Before limit + 1 distinct ids have been taken every
-- row is one of at most limit ids at one of max_depth + 1 depths, so
-- taking (limit + 1) * (max_depth + 1) rows is enough to tell whether more
-- than limit nodes are within reach, and bounds the walk from a hub.
-- reached keeps limit + 1 nodes: the caller reports a cut when it gets
-- that many, and drops the last.
-- name: Neighbourhood :many
WITH RECURSIVE walk(id, depth) AS (
    SELECT id, 0 AS depth FROM nodes WHERE id = CAST(sqlc.arg(root) AS TEXT)
    UNION
    SELECT e.target, w.depth + 1
    FROM walk w JOIN edges e ON e.source = w.id
    WHERE w.depth < CAST(sqlc.arg(max_depth) AS INTEGER)
      AND CAST(sqlc.arg(follow_out) AS INTEGER) = 1
      AND (sqlc.narg(types) IS NULL OR e.type IN (SELECT value FROM json_each(sqlc.narg(types))))
    UNION
    SELECT e.source, w.depth + 1
    FROM walk w JOIN edges e ON e.target = w.id
    WHERE w.depth < CAST(sqlc.arg(max_depth) AS INTEGER)
      AND CAST(sqlc.arg(follow_in) AS INTEGER) = 1
      AND (sqlc.narg(types) IS NULL OR e.type IN (SELECT value FROM json_each(sqlc.narg(types))))
    ORDER BY 2
    LIMIT (CAST(sqlc.arg(limit) AS INTEGER) + 1) * (CAST(sqlc.arg(max_depth) AS INTEGER) + 1)
),
reached AS (
    SELECT id, min(depth) AS distance FROM walk GROUP BY id
    ORDER BY 2, 1
    LIMIT CAST(sqlc.arg(limit) AS INTEGER) + 1
)
SELECT CAST(1 AS INTEGER) AS kind, e.source, e.target, e.type, CAST(0 AS INTEGER) AS distance,
    e.confidence, e.veracity, e.context_source
FROM edges e
WHERE e.source IN (SELECT id FROM reached) AND e.target IN (SELECT id FROM reached)
  AND (sqlc.narg(types) IS NULL OR e.type IN (SELECT value FROM json_each(sqlc.narg(types))))
UNION ALL
SELECT 0, id, '', '', distance, 0.0, 0.0, NULL
FROM reached
ORDER BY 1, 5, 2, 3, 4;
