package fsfix

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Command returns the resonance command line `resonance ARGS --db DB` that
// a fix suggests, with the flags every command on that database needs:
// --migrations for each of the application's migration directories
// (without them the command fails M4 on the application's versions) and
// --external-checkpoints when the database is replicated that way. A
// migrations FS that does not name its directory (fmt.Stringer, as
// resonance.MigrationsDir does) is shown as DIR.
func Command(args, db string, migrations []fs.FS, external bool) string {
	var b strings.Builder
	b.WriteString("resonance " + args + " --db " + Quote(db))
	for _, m := range migrations {
		dir := "DIR"
		if s, ok := m.(fmt.Stringer); ok {
			dir = s.String()
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			dir = Quote(dir)
		}
		b.WriteString(" --migrations " + dir)
	}
	if external {
		b.WriteString(" --external-checkpoints")
	}
	return b.String()
}
