-- migrate:up
-- Full-text search over the notes with SQLite's FTS5, beside the graph.
-- go-sqlite3 compiles FTS5 in only with the build tag sqlite_fts5: every
-- binary that opens this database (the program, its tests, and
-- `go tool resonance`) is built with -tags sqlite_fts5 (see ci.sh).
-- The index holds no copy of the text (content='notes'); the triggers
-- keep it in step with the notes table.
CREATE VIRTUAL TABLE notes_search USING fts5(body, content='notes', content_rowid='id');

CREATE TRIGGER notes_search_insert AFTER INSERT ON notes BEGIN
  INSERT INTO notes_search (rowid, body) VALUES (new.id, new.body);
END;

CREATE TRIGGER notes_search_delete AFTER DELETE ON notes BEGIN
  INSERT INTO notes_search (notes_search, rowid, body) VALUES ('delete', old.id, old.body);
END;

CREATE TRIGGER notes_search_update AFTER UPDATE ON notes BEGIN
  INSERT INTO notes_search (notes_search, rowid, body) VALUES ('delete', old.id, old.body);
  INSERT INTO notes_search (rowid, body) VALUES (new.id, new.body);
END;

-- migrate:down
DROP TRIGGER notes_search_update;
DROP TRIGGER notes_search_delete;
DROP TRIGGER notes_search_insert;
DROP TABLE notes_search;
