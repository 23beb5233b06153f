-- migrate:up
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    title TEXT,
    domain TEXT NOT NULL DEFAULT 'knowledge',
    layer TEXT NOT NULL DEFAULT 'experience',
    embedding BLOB,
    hash TEXT,
    meta TEXT,
    date TEXT
);

-- Edges are looked up by their whole key, so the key is the table.
CREATE TABLE edges (
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    type TEXT NOT NULL,
    confidence REAL NOT NULL DEFAULT 1.0,
    veracity REAL NOT NULL DEFAULT 1.0,
    context_source TEXT,
    PRIMARY KEY (source, target, type)
) WITHOUT ROWID;

CREATE INDEX idx_edges_source ON edges (source);
CREATE INDEX idx_edges_target ON edges (target);

CREATE TABLE ember_state (
    file_path TEXT PRIMARY KEY,
    last_analyzed TEXT,
    sidecar_created INTEGER NOT NULL DEFAULT 0,
    confidence REAL
);

-- migrate:down
DROP TABLE ember_state;
DROP INDEX idx_edges_target;
DROP INDEX idx_edges_source;
DROP TABLE edges;
DROP TABLE nodes;
