-- migrate:up
-- The application's own table, beside the library's graph: notes written
-- about a node, removed with it.
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  body TEXT NOT NULL CHECK (body <> ''),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX notes_node_id ON notes (node_id);

-- migrate:down
DROP TABLE notes;
