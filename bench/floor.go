package bench

// The C floor: the baseline's read statements and its per-request
// connection run from C, on the SQLite that go-sqlite3 bundles (the
// symbols below are its own, linked into this binary), in the same run:
// the reads on a copy of the baseline's P1 database, P4 on the baseline's
// P4 database. It is what Go code using that SQLite through the same
// statements and the same connection settings cannot go below: the
// statement itself, with no database/sql and no crossing from Go to C per
// row. Every value is copied once out of SQLite's row, as a client that
// keeps it must: text and blobs into a reused buffer.

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close(sqlite3 *db);
int sqlite3_exec(sqlite3 *db, const char *sql, int (*callback)(void *, int, char **, char **), void *arg, char **errmsg);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *text, int n, void (*destructor)(void *));
int sqlite3_step(sqlite3_stmt *stmt);
int sqlite3_reset(sqlite3_stmt *stmt);
int sqlite3_clear_bindings(sqlite3_stmt *stmt);
int sqlite3_finalize(sqlite3_stmt *stmt);
int sqlite3_column_count(sqlite3_stmt *stmt);
int sqlite3_column_type(sqlite3_stmt *stmt, int i);
long long sqlite3_column_int64(sqlite3_stmt *stmt, int i);
double sqlite3_column_double(sqlite3_stmt *stmt, int i);
const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int i);
const void *sqlite3_column_blob(sqlite3_stmt *stmt, int i);
int sqlite3_column_bytes(sqlite3_stmt *stmt, int i);
const char *sqlite3_errmsg(sqlite3 *db);

// go-sqlite3 opens with SQLITE_OPEN_FULLMUTEX | READWRITE | CREATE | URI;
// so do the floor's connections, on a file that exists.
#define FLOOR_OPEN (0x00010000 | 0x00000002 | 0x00000004 | 0x00000040)

// floor_settings is what go-sqlite3 runs on each of the baseline's
// connections for its DSN, in its order, then the baseline's connect hook.
// go-sqlite3 also registers five user-authentication functions on each
// connection; the floor does not.
static const char floor_settings[] =
	"PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = 1; PRAGMA journal_mode = WAL; "
	"PRAGMA locking_mode = NORMAL; PRAGMA synchronous = NORMAL; "
	"PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY";

static int floor_open(const char *path, sqlite3 **db) {
	int rc = sqlite3_open_v2(path, db, FLOOR_OPEN, NULL);
	if (rc != 0) return rc;
	return sqlite3_exec(*db, floor_settings, NULL, NULL, NULL);
}

// floor_buf is where text and blob values are copied; it grows to the
// largest value.
typedef struct {
	char *p;
	size_t cap;
	int64_t sink; // keeps the compiler from dropping the numeric reads
} floor_buf;

static int floor_take(floor_buf *b, const void *v, int n) {
	if (n <= 0) return 0;
	if (v == NULL) return -1; // out of memory in SQLite
	if ((size_t)n > b->cap) {
		free(b->p);
		b->p = malloc(n);
		b->cap = b->p ? (size_t)n : 0;
		if (b->p == NULL) return -1;
	}
	memcpy(b->p, v, n);
	return 0;
}

// floor_rows binds text (when n >= 0) to the statement's one parameter,
// steps through every row copying each column's value, and resets it. It
// returns the number of rows, or -1 after an error (sqlite3_errmsg).
static int64_t floor_rows(sqlite3_stmt *stmt, floor_buf *b, const char *text, int n) {
	if (n >= 0 && sqlite3_bind_text(stmt, 1, n > 0 ? text : "", n, NULL) != 0) return -1;
	int64_t rows = 0;
	int rc, bad = 0;
	while ((rc = sqlite3_step(stmt)) == 100 && !bad) { // SQLITE_ROW
		int cols = sqlite3_column_count(stmt);
		for (int i = 0; i < cols && !bad; i++) {
			switch (sqlite3_column_type(stmt, i)) {
			case 1: b->sink += sqlite3_column_int64(stmt, i); break;
			case 2: b->sink += (int64_t)sqlite3_column_double(stmt, i); break;
			case 3: bad = floor_take(b, sqlite3_column_text(stmt, i), sqlite3_column_bytes(stmt, i)); break;
			case 4: bad = floor_take(b, sqlite3_column_blob(stmt, i), sqlite3_column_bytes(stmt, i)); break;
			}
		}
		rows++;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == 101 && !bad ? rows : -1; // SQLITE_DONE
}

// floor_connect is P4 from C: open with the baseline's settings, count the
// nodes, close. It returns SQLite's result code, the count in *n.
static int floor_connect(const char *path, int64_t *n) {
	sqlite3 *db = NULL;
	int rc = floor_open(path, &db);
	if (rc == 0) {
		sqlite3_stmt *stmt = NULL;
		rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM nodes", -1, &stmt, NULL);
		if (rc == 0) {
			rc = sqlite3_step(stmt);
			if (rc == 100) {
				*n = sqlite3_column_int64(stmt, 0);
				rc = 0;
			}
		}
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);
	return rc;
}
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"
)

// cFloor is one connection of the C floor with the baseline's read
// statements prepared on it.
type cFloor struct {
	r                            *runner
	db                           *C.sqlite3
	buf                          *C.floor_buf // C memory: where the values are copied
	scanSt, getSt, outSt, manySt *C.sqlite3_stmt
}

func openFloor(r *runner, path string) (*cFloor, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	f := &cFloor{r: r, buf: (*C.floor_buf)(C.calloc(1, C.sizeof_floor_buf))}
	var db *C.sqlite3
	rc := C.floor_open(cpath, &db)
	f.db = db
	if rc != 0 {
		err := f.err(fmt.Sprintf("open (%d)", rc))
		f.close()
		return nil, err
	}
	for _, p := range []struct {
		st  **C.sqlite3_stmt
		sql string
	}{{&f.scanSt, sqlScanNodes}, {&f.getSt, sqlGetNode}, {&f.outSt, sqlOutgoingEdges}, {&f.manySt, sqlOutgoingEdgesOf}} {
		csql := C.CString(p.sql)
		var st *C.sqlite3_stmt
		rc := C.sqlite3_prepare_v2(f.db, csql, -1, &st, nil)
		C.free(unsafe.Pointer(csql))
		*p.st = st
		if rc != 0 {
			err := f.err("prepare")
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *cFloor) err(op string) error {
	msg := "out of memory"
	if f.db != nil {
		msg = C.GoString(C.sqlite3_errmsg(f.db))
	}
	return fmt.Errorf("C floor: %s: %s", op, msg)
}

func (f *cFloor) close() {
	for _, st := range []*C.sqlite3_stmt{f.scanSt, f.getSt, f.outSt, f.manySt} {
		C.sqlite3_finalize(st)
	}
	C.sqlite3_close(f.db)
	if f.buf != nil {
		C.free(unsafe.Pointer(f.buf.p))
		C.free(unsafe.Pointer(f.buf))
	}
	*f = cFloor{}
}

// rows runs st with text bound to its parameter and returns its rows.
func (f *cFloor) rows(st *C.sqlite3_stmt, text string) (int, error) {
	n := C.floor_rows(st, f.buf, (*C.char)(unsafe.Pointer(unsafe.StringData(text))), C.int(len(text)))
	if n < 0 {
		return 0, f.err("step")
	}
	return int(n), nil
}

func (f *cFloor) scan() (int, error) {
	n := C.floor_rows(f.scanSt, f.buf, nil, -1)
	if n < 0 {
		return 0, f.err("scan")
	}
	return int(n), nil
}

func (f *cFloor) get(i int) error {
	n, err := f.rows(f.getSt, f.r.data.ids[i])
	if err == nil && n != 1 {
		err = fmt.Errorf("C floor: node %q: %d rows, want 1", f.r.data.ids[i], n)
	}
	return err
}

func (f *cFloor) outgoing(i int) (int, error) { return f.rows(f.outSt, f.r.data.ids[i]) }

func (f *cFloor) outgoingOf(ids []string) (int, error) {
	arr, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	return f.rows(f.manySt, string(arr))
}

// floorConnect is P4's per-request connection from C on path.
func floorConnect(path string) (int64, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var n C.int64_t
	if rc := C.floor_connect(cpath, &n); rc != 0 {
		return 0, fmt.Errorf("C floor: P4 connection to %s: SQLite result code %d", path, rc)
	}
	return int64(n), nil
}

// copyDB copies the database at from, and its -wal if there is one, to a
// new database at to, byte for byte: the copy keeps the baseline's page
// layout, which a backup or VACUUM INTO would rewrite. Nothing may write
// to from meanwhile.
func copyDB(from, to string) error {
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(from + suffix)
		if suffix != "" && errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		out, err := os.OpenFile(to+suffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = io.Copy(out, in)
			if err == nil {
				// Written out now, not by the kernel during the reads.
				err = out.Sync()
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
