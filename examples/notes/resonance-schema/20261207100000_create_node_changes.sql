-- migrate:up
-- node_changes names every row of nodes that was inserted, deleted or had
-- its embedding, domain, type or rowid changed, by any program, through
-- the library or by plain SQL, in the transaction of the change. Vector
-- search keeps a compact copy of the embeddings in memory and, after a
-- commit, reads only the rows named since its copy was taken (seq greater
-- than the last it read). The table keeps about the last 2^20 changes: a
-- copy older than that is read again whole.
CREATE TABLE node_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    node_rowid INTEGER NOT NULL
);

CREATE TRIGGER node_changes_insert AFTER INSERT ON nodes
BEGIN
    INSERT INTO node_changes (node_rowid) VALUES (new.rowid);
END;

CREATE TRIGGER node_changes_update AFTER UPDATE ON nodes
WHEN old.rowid IS NOT new.rowid
  OR old.embedding IS NOT new.embedding
  OR old.domain IS NOT new.domain
  OR old.type IS NOT new.type
BEGIN
    INSERT INTO node_changes (node_rowid) VALUES (old.rowid);
    INSERT INTO node_changes (node_rowid) SELECT new.rowid WHERE new.rowid IS NOT old.rowid;
END;

CREATE TRIGGER node_changes_delete AFTER DELETE ON nodes
BEGIN
    INSERT INTO node_changes (node_rowid) VALUES (old.rowid);
END;

-- Every 4,096th change drops those older than the last 2^20.
CREATE TRIGGER node_changes_prune AFTER INSERT ON node_changes
WHEN new.seq % 4096 = 0
BEGIN
    DELETE FROM node_changes WHERE seq <= new.seq - 1048576;
END;

-- migrate:down
DROP TRIGGER node_changes_prune;
DROP TRIGGER node_changes_delete;
DROP TRIGGER node_changes_update;
DROP TRIGGER node_changes_insert;
DROP TABLE node_changes;
