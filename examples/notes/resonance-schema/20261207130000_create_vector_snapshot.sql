-- migrate:up
-- vector_snapshot holds the compact copy of the embeddings that vector
-- search keeps in memory (each node's rowid, domain and type numbers, int8
-- codes and scale, about a quarter of the float32 embeddings), so that the
-- first search of a new process reads it and then only the rows
-- node_changes names after its seq, instead of every embedding. A store
-- that had to read every embedding writes a new generation in parts, each
-- part its own transaction, and publishes it last; searches read only the
-- newest published generation, and the next one published drops the
-- others. Answers never depend on it being right: every candidate is
-- scored again from nodes, and a snapshot that is damaged, taken under
-- another schema or older than node_changes' first seq is not used.
CREATE TABLE vector_snapshot (
    generation INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    parts INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    names BLOB
);

CREATE TABLE vector_snapshot_parts (
    generation INTEGER NOT NULL REFERENCES vector_snapshot (generation) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (generation, part)
);

-- migrate:down
DROP TABLE vector_snapshot_parts;
DROP TABLE vector_snapshot;
