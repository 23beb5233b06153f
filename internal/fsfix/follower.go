package fsfix

import (
	"os"
	"regexp"
)

// litestreamTXID is what `litestream restore -f` (v0.5) writes to the file
// beside its output: the last transaction ID it applied, 16 hex digits and
// a newline.
var litestreamTXID = regexp.MustCompile(`^([0-9a-f]{16})\n?$`)

// LitestreamFollower reports whether the database at path is kept by
// `litestream restore -f` (follow mode): Litestream writes the replica's
// pages straight into the file, and records the last transaction it
// applied in path+"-txid", which it reads to resume. It returns that file
// and the transaction ID when it is there.
func LitestreamFollower(path string) (txidFile, txid string, ok bool) {
	txidFile = path + "-txid"
	fi, err := os.Lstat(txidFile)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64 {
		return "", "", false
	}
	b, err := os.ReadFile(txidFile)
	if err != nil {
		return "", "", false
	}
	m := litestreamTXID.FindSubmatch(b)
	if m == nil {
		return "", "", false
	}
	return txidFile, string(m[1]), true
}
