-- name: UpsertNode :exec
INSERT INTO nodes (id, type, title, domain, layer, embedding, hash, summary, meta, date)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    type = excluded.type,
    title = excluded.title,
    domain = excluded.domain,
    layer = excluded.layer,
    embedding = excluded.embedding,
    hash = excluded.hash,
    summary = excluded.summary,
    meta = excluded.meta,
    date = excluded.date;

-- GetNode reads one node's columns as they are stored.
-- name: GetNode :one
SELECT id, type, title, domain, layer, embedding, hash, summary, meta, date
FROM nodes
WHERE id = ?;

-- name: GetNodeHash :one
SELECT hash FROM nodes WHERE id = ?;

-- name: GetNodeMeta :one
SELECT meta FROM nodes WHERE id = ?;

-- name: GetNodeDate :one
SELECT date FROM nodes WHERE id = ?;

-- name: UpdateNodeMeta :execrows
UPDATE nodes SET meta = ? WHERE id = ?;

-- name: UpdateNodeDate :execrows
UPDATE nodes SET date = ? WHERE id = ?;

-- name: ListLexicon :many
SELECT id, title, summary, meta
FROM nodes
WHERE domain = 'lexicon' AND type = 'concept'
ORDER BY id;

-- name: CountNodes :one
SELECT count(*) FROM nodes;

-- name: CountVectors :one
SELECT count(*) FROM nodes WHERE embedding IS NOT NULL AND length(embedding) > 0;

-- CountSemanticTokens counts nodes whose meta object has a semantic_tokens
-- key, whatever its value (json_type answers 'null' for a JSON null, SQL
-- NULL only for a missing key). CASE guarantees json_type never sees text
-- that is not JSON, which would be an error.
-- name: CountSemanticTokens :one
SELECT count(*) FROM nodes
WHERE (CASE WHEN json_valid(meta) THEN json_type(meta, '$.semantic_tokens') END) IS NOT NULL;

-- GraphStats reads every count of Stats in one statement, so they come
-- from one snapshot without a transaction. (The file sizes are PRAGMAs,
-- which sqlc cannot parse: resonance/stats.go reads them.)
-- name: GraphStats :one
SELECT
    (SELECT count(*) FROM nodes) AS nodes,
    (SELECT count(*) FROM edges) AS edges,
    (SELECT count(*) FROM nodes WHERE length(embedding) > 0) AS vectors,
    (SELECT count(*) FROM nodes
     WHERE (CASE WHEN json_valid(meta) THEN json_type(meta, '$.semantic_tokens') END) IS NOT NULL) AS semantic_tokens;

-- The deletes take their ids as a JSON array of hex strings, one per id:
-- hex carries any id whole, even one that is not valid UTF-8 or holds a
-- NUL byte (another program may have written it), where a JSON string
-- would not.

-- ExistingNodeIDs returns which of the ids name a node.
-- name: ExistingNodeIDs :many
SELECT id FROM nodes
WHERE id IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(CAST(sqlc.arg(ids) AS TEXT)));

-- DeleteNodesReturning deletes the nodes with the ids and returns each
-- one's columns as they were, for its history row.
-- name: DeleteNodesReturning :many
DELETE FROM nodes
WHERE id IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(CAST(sqlc.arg(ids) AS TEXT)))
RETURNING id, type, title, domain, layer, embedding, hash, summary, meta, date;
