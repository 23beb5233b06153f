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

