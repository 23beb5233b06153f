// Package replication proves the library under the real Litestream (R2):
// its tests build nothing themselves; `make replication` builds
// bin/litestream from the module proxy (tools/litestream) and runs them with
// LITESTREAM_BIN set. Without it they skip.
package replication
