-- ListEmbeddings reads the embedding of every node that has one, in rowid
-- order (the order of a plain table scan, which fixes the order of equal
-- scores), with the domain and type a vector search filters on. Empty
-- domain and type filters are NULL.
-- name: ListEmbeddings :many
SELECT id, domain, type, embedding
FROM nodes
WHERE embedding IS NOT NULL
  AND (sqlc.narg(domain) IS NULL OR domain = sqlc.narg(domain))
  AND (sqlc.narg(type) IS NULL OR type = sqlc.narg(type))
ORDER BY rowid;

-- GetSearchHit reads what a vector search returns for each hit besides its
-- id and score.
-- name: GetSearchHit :one
SELECT title, meta, date
FROM nodes
WHERE id = ?;
