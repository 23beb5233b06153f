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

-- GetNodePacked, ListNodesPacked and ListNodesWithoutEmbeddingPacked are
-- the graph API's hot reads: they return a node's text
-- columns packed into one value, "len,len,...:" and then the texts back to
-- back, meta last (resonance/packed.go reads it): a driver allocates two
-- objects per column it returns, and for a metadata scan those allocations
-- and the garbage they make cost more than SQLite's own work. NULL and ''
-- both pack as nothing, as the graph API reads both as "". GetNodePacked
-- does not read back the id it was given. Use GetNode for plain columns.
-- name: GetNodePacked :one
SELECT CAST(concat(
    octet_length(type), ',', octet_length(title), ',', octet_length(domain), ',', octet_length(layer), ',', octet_length(hash), ',', octet_length(summary), ',', octet_length(date), ':',
    type, title, domain, layer, hash, summary, date, meta) AS TEXT) AS packed,
    embedding
FROM nodes
WHERE id = ?;

-- LIMIT and OFFSET go through CAST: a bare parameter there lets SQLite
-- re-plan the statement whenever its value changes between 0 or 1 and
-- anything else, and go-sqlite3 clears the bindings before each run, so
-- the scan was compiled anew on every call.
-- name: ListNodesPacked :many
SELECT CAST(concat(
    octet_length(id), ',', octet_length(type), ',', octet_length(title), ',', octet_length(domain), ',', octet_length(layer), ',', octet_length(hash), ',', octet_length(summary), ',', octet_length(date), ':',
    id, type, title, domain, layer, hash, summary, date, meta) AS TEXT) AS packed,
    embedding
FROM nodes
WHERE (sqlc.narg(domain) IS NULL OR domain = sqlc.narg(domain))
  AND (sqlc.narg(type) IS NULL OR type = sqlc.narg(type))
ORDER BY rowid
LIMIT CAST(sqlc.arg(limit) AS INTEGER) OFFSET CAST(sqlc.arg(offset) AS INTEGER);

-- name: ListNodesWithoutEmbeddingPacked :many
SELECT CAST(concat(
    octet_length(id), ',', octet_length(type), ',', octet_length(title), ',', octet_length(domain), ',', octet_length(layer), ',', octet_length(hash), ',', octet_length(summary), ',', octet_length(date), ':',
    id, type, title, domain, layer, hash, summary, date, meta) AS TEXT) AS packed
FROM nodes
WHERE (sqlc.narg(domain) IS NULL OR domain = sqlc.narg(domain))
  AND (sqlc.narg(type) IS NULL OR type = sqlc.narg(type))
ORDER BY rowid
LIMIT CAST(sqlc.arg(limit) AS INTEGER) OFFSET CAST(sqlc.arg(offset) AS INTEGER);

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
