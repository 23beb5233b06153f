package resonance

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/resonance-graph/resonancedb/internal/fsfix"
)

// TestExplainOS: an error caused by running out of file descriptors or
// of disk space, from SQLite or from Go, says so with the fix and still
// wraps both the errno and the original error; other errors pass through.
func TestExplainOS(t *testing.T) {
	cantOpen := sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EMFILE}
	for _, err := range []error{cantOpen, fmt.Errorf("opening: %w", syscall.ENFILE)} {
		got := explainOS(err)
		if !strings.Contains(got.Error(), ": raise the limit (ulimit -n) (") {
			t.Errorf("explainOS(%v) = %q, want the fix", err, got)
		}
		if !errors.Is(got, systemErrno(err)) || !errors.Is(got, err) {
			t.Errorf("explainOS(%v) = %v does not wrap the errno and the error", err, got)
		}
		var se *SystemError
		if !errors.As(fmt.Errorf("x: %w", got), &se) || se.Fix != fsfix.FileLimitFix {
			t.Errorf("errors.As(%v) finds no *SystemError with the file limit fix", got)
		}
		if again := explainOS(fmt.Errorf("x: %w", got)); strings.Count(again.Error(), "ulimit") != 1 {
			t.Errorf("explaining twice: %q", again)
		}
	}
	if cls := classify(cantOpen); !strings.Contains(cls.Error(), "ulimit -n") {
		t.Errorf("classify(%v) = %q, want the file limit fix", cantOpen, cls)
	}
	full := sqlite3.Error{Code: sqlite3.ErrFull}
	if got := explainOS(full); !errors.Is(got, syscall.ENOSPC) || !strings.Contains(got.Error(), "free space on the file system") {
		t.Errorf("explainOS(%v) = %q, want the free space fix", full, got)
	}
	other := sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EACCES}
	if got := explainOS(other); got != error(other) {
		t.Errorf("explainOS(%v) = %v, want it unchanged", other, got)
	}
}

// TestDirFix_ReadOnlyFileSystem: a directory on a read-only mount gets the
// fixes that work there, not chmod.
func TestDirFix_ReadOnlyFileSystem(t *testing.T) {
	got := dirFix("/mnt/ro/graph.db", fmt.Errorf("access: %w", syscall.EROFS))
	if strings.Contains(got, "chmod u+") || !strings.Contains(got, "immutable=1") || !strings.Contains(got, "read-only") {
		t.Errorf("dirFix on a read-only file system = %q", got)
	}
}
