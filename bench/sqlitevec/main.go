// Command sqlitevec is the sqlite-vec side of `resonance bench --scale`
// (P7): it lives in a module of its own so that sqlite-vec never enters the
// library's go.mod. Build it with `make sqlitevec` and pass it to the
// bench with --sqlite-vec.
//
//	sqlitevec build SRC DST      copy every embedding of SRC's nodes (rowid and
//	                             float32 blob) into a vec0 table of a new DST
//	sqlitevec search DB QUERIES K
//	                             open DB, run each query of QUERIES (float32
//	                             little-endian, one after another) as an exact
//	                             vec0 KNN of K, and print one JSON object: the
//	                             first search's milliseconds (open included),
//	                             then each query's, and the rowids found
//
// vec0's exact KNN ranks by L2 distance, which for unit vectors is the
// order of the dot product.
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	vec "github.com/asg017/sqlite-vec-go-bindings/cgo"
	_ "github.com/mattn/go-sqlite3"
)

func main() {
	vec.Auto()
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "build":
		err = build(os.Args[2], os.Args[3])
	case len(os.Args) == 5 && os.Args[1] == "search":
		err = search(os.Args[2], os.Args[3], os.Args[4])
	default:
		err = fmt.Errorf("usage: sqlitevec build SRC DST | sqlitevec search DB QUERIES K")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlitevec:", err)
		os.Exit(1)
	}
}

func build(src, dst string) error {
	db, err := sql.Open("sqlite3", "file:"+dst+"?_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("ATTACH ? AS src", src); err != nil {
		return err
	}
	var dim int
	if err := db.QueryRow("SELECT length(embedding)/4 FROM src.nodes WHERE embedding IS NOT NULL LIMIT 1").Scan(&dim); err != nil {
		return err
	}
	if _, err := db.Exec(fmt.Sprintf("CREATE VIRTUAL TABLE v USING vec0(embedding float[%d])", dim)); err != nil {
		return err
	}
	_, err = db.Exec("INSERT INTO v(rowid, embedding) SELECT rowid, embedding FROM src.nodes WHERE length(embedding) = ? ORDER BY rowid", dim*4)
	if err != nil {
		return err
	}
	_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

type result struct {
	FirstMs float64   `json:"first_ms"`
	Ms      []float64 `json:"ms"`
	Rowids  [][]int64 `json:"rowids"`
}

func search(path, queries, kArg string) error {
	k, err := strconv.Atoi(kArg)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(queries)
	if err != nil {
		return err
	}
	t0 := time.Now()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var dim int
	if err := db.QueryRow("SELECT vec_length(embedding) FROM v LIMIT 1").Scan(&dim); err != nil {
		return err
	}
	stmt, err := db.Prepare("SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance")
	if err != nil {
		return err
	}
	var res result
	n := len(raw) / (4 * dim)
	for i := range n {
		q := raw[i*4*dim : (i+1)*4*dim]
		if i > 0 {
			t0 = time.Now()
		}
		rows, err := stmt.Query(q, k)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		ms := float64(time.Since(t0).Nanoseconds()) / 1e6
		if i == 0 {
			res.FirstMs = ms
		} else {
			res.Ms = append(res.Ms, ms)
		}
		res.Rowids = append(res.Rowids, ids)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
