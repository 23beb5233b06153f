-- migrate:up
ALTER TABLE nodes ADD COLUMN summary TEXT;

-- migrate:down
ALTER TABLE nodes DROP COLUMN summary;
