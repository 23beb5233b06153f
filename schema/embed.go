// Package schema holds the database migrations in dbmate's format
// (`-- migrate:up` / `-- migrate:down`). They are the single source of truth
// for the schema: the library applies them at open, sqlc compiles the
// queries against them, and the dbmate CLI reads the same files.
package schema

import "embed"

// FS holds every migration file, named VERSION_description.sql.
//
//go:embed *.sql
var FS embed.FS
