package resonance

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/resonance-graph/resonancedb/internal/vecindex"
)

// The snapshot. The migration 20261207130000 adds vector_snapshot and
// vector_snapshot_parts, which hold the index's copy as it was at one seq
// of node_changes, so that a new process reads the copy coded (a quarter
// of the embeddings' bytes, in parts of a few MB) and then catches up on
// the rows node_changes names after that seq, instead of reading every
// embedding. Its first search does not wait for that copy: it scores the
// parts as it reads them, holding one part's codes at a time, and the
// changed rows from nodes (streamSearch); the copy is read after it, in
// the background (buildCopy). Building the copy first was most of the
// cost of a first search at a million nodes (the README has the figures),
// not in reading but in a first touch of each page of the memory it takes.
//
// Sound whatever it holds. Every candidate is scored again from nodes, so
// a snapshot matters only through the bounds of the nodes it holds; it is
// used only when it is published (its last part written), taken under the
// schema_version of the search's snapshot (a trigger dropped and made
// again, an application's migration or a VACUUM changes it), no newer
// than node_changes and not older than its first seq (the catch-up then
// reads every row changed since), within maxBytes, and when each part's
// checksum, lengths, dimensions, label numbers and rowid order hold.
// Anything else reads the copy whole, as before.
//
// Written in the background by a read-write store, through its writer,
// after it read the copy whole, or caught up on more rows than an eighth
// of those it holds since its snapshot (at least snapshotEvery): each
// part in a transaction of its own, encoded from the copy under the read
// lock, so neither searches nor writers wait for more than a part. The
// copy may catch up between two parts; the generation is stamped with the
// seq the copy had at its start, so every row that changed after it is
// read again by the catch-up of whoever loads it. Publishing drops the
// older generations, part by part. Close waits for a snapshot being
// written while it makes progress (a part or a drop at least every
// BusyTimeout; a writer held elsewhere, as by a transaction left open,
// cancels it). A generation never published (a
// process killed while writing it) is ignored, and dropped by the next
// one published.

const (
	snapshotPartBytes = 4 << 20 // about what one part holds
	snapshotEvery     = 4096    // the fewest changed rows that make a new snapshot
	latestSnapshot    = `SELECT generation, seq, schema_version, parts, bytes, names
FROM vector_snapshot WHERE published = 1 ORDER BY generation DESC LIMIT 1`
	listSnapshotParts  = `SELECT part, data FROM vector_snapshot_parts WHERE generation = ? ORDER BY part`
	insertSnapshot     = `INSERT INTO vector_snapshot (seq, schema_version) VALUES (?, ?)`
	insertSnapshotPart = `INSERT INTO vector_snapshot_parts (generation, part, data) VALUES (?, ?, ?)`
	publishSnapshot    = `UPDATE vector_snapshot SET published = 1, parts = ?, bytes = ?, names = ?
WHERE generation = ? AND published = 0`
	listOlderSnapshots = `SELECT generation FROM vector_snapshot WHERE generation < ? ORDER BY generation`
	dropSnapshotPart   = `DELETE FROM vector_snapshot_parts WHERE generation = ?1
  AND part = (SELECT min(part) FROM vector_snapshot_parts WHERE generation = ?1)`
	dropSnapshot = `DELETE FROM vector_snapshot WHERE generation = ?`
)

var snapshotCRC = crc32.MakeTable(crc32.Castagnoli)

// usableSnapshot returns the newest published snapshot that a search in
// tx, whose last seq of node_changes is seq (first is its first) and whose
// schema_version is schema, can start from: its generation, its number of
// parts, and an empty copy at its seq holding its names. The copy is nil
// when there is none it can use.
func (x *vectorIndex) usableSnapshot(ctx context.Context, tx *sql.Tx, first sql.NullInt64, seq, schema int64) (gen, parts int64, c *vectorCopy) {
	var sseq, sschema, size int64
	var names []byte
	err := tx.QueryRowContext(ctx, latestSnapshot).Scan(&gen, &sseq, &sschema, &parts, &size, &names)
	if err != nil {
		// None, or no table (a read-only store before the migration): a
		// snapshot is never needed.
		return 0, 0, nil
	}
	caughtUp := sseq == seq || (first.Valid && first.Int64 <= sseq+1)
	if sschema != schema || sseq > seq || !caughtUp || size > x.maxBytes || size < 0 || gen == x.damaged.Load() {
		return 0, 0, nil
	}
	c = &vectorCopy{seq: sseq, schema: schema, upto: math.MaxInt64, sets: map[int]*vecindex.Set{},
		unreadable: map[int64]vecindex.Labels{}, numbers: map[string]uint32{}}
	if !c.decodeNames(names) {
		return 0, 0, nil
	}
	return gen, parts, c
}

// readParts calls use with each part of generation gen in order, in tx,
// whose bytes it may keep. It reports false when a part is missing, or
// use refused one.
func readParts(ctx context.Context, tx *sql.Tx, gen, parts int64, use func(part []byte) bool) bool {
	rows, err := tx.QueryContext(ctx, listSnapshotParts, gen)
	if err != nil {
		return false
	}
	defer rows.Close()
	n := int64(0)
	for rows.Next() {
		var part int64
		var data sql.RawBytes
		if err := rows.Scan(&part, &data); err != nil || part != n || !use(data) {
			return false
		}
		n++
	}
	return rows.Err() == nil && n == parts
}

// loadSnapshot reads the newest snapshot it can use into x.c, in tx, as
// usableSnapshot finds it. It leaves x.c nil when there is none; the
// caller then catches up from the snapshot's seq as from any copy's.
// Called under x.mu's Lock with x.c nil.
func (x *vectorIndex) loadSnapshot(ctx context.Context, tx *sql.Tx, first sql.NullInt64, seq, schema int64) error {
	gen, parts, c := x.usableSnapshot(ctx, tx, first, seq, schema)
	if c == nil {
		return ctx.Err()
	}
	var garbage int64
	if !readParts(ctx, tx, gen, parts, func(data []byte) bool {
		// As in extend: the driver allocates each part afresh.
		if garbage += int64(len(data)); garbage > loadGarbage(x.maxBytes) {
			garbage = 0
			runtime.GC()
		}
		return c.decodePart(data, x.maxBytes)
	}) {
		return ctx.Err()
	}
	x.c = c
	x.snapshotLoads++
	x.snapDue, x.sinceSnapshot = false, 0
	return nil
}

// streamSearch answers vq from the snapshot without a copy in memory,
// in tx, whose last seq of node_changes is seq (first is its first) and
// whose schema_version is schema: it scores each part as it reads it,
// keeping only the candidates, so that a new process's first search
// neither reads every embedding nor waits for the copy (most of whose
// cost is the memory it takes: a first touch of each page). The rows
// changed since the snapshot (node_changes names them) are left out of
// the parts and scored from nodes, as a scan scores them. It reports
// false, having answered nothing, when there is no snapshot it can use or
// a part fails its checks; an error with true comes from the rescoring
// (errStale: a row disagrees with the snapshot and node_changes).
func (x *vectorIndex) streamSearch(ctx context.Context, tx *sql.Tx, vq *vectorQuery, first sql.NullInt64, seq, schema int64) (SearchResult, bool, error) {
	gen, parts, c := x.usableSnapshot(ctx, tx, first, seq, schema)
	if c == nil {
		return SearchResult{}, false, ctx.Err()
	}
	changed, err := changedSince(ctx, tx, c.seq, seq)
	if err != nil {
		return SearchResult{}, false, err
	}
	var res SearchResult
	top := topK{k: vq.k}
	stmt, err := tx.PrepareContext(ctx, listEmbeddingsOf)
	if err != nil {
		return SearchResult{}, false, fmt.Errorf("read embeddings: %w", classify(err))
	}
	defer stmt.Close()
	v := make([]float32, vq.dim())
	rows := make(map[int64]storedRow)
	for i := 0; i < len(changed); i += rescoreBatch {
		ids := changed[i:min(len(changed), i+rescoreBatch)]
		if err := readRows(ctx, stmt, ids, rows); err != nil {
			return SearchResult{}, false, err
		}
		for _, r := range ids {
			row, ok := rows[r]
			if !ok || !vq.selects(row) {
				continue
			}
			if !vq.offer(&top, r, row.blob, row.isBlob, v) {
				res.Skipped++
			}
		}
		clear(rows)
	}

	f := c.filter(vq)
	q := vecindex.NewQuery(vq.q32)
	best := vecindex.NewBest(vq.k)
	last := map[int]int64{} // by dimension, the last rowid of the parts so far
	if !readParts(ctx, tx, gen, parts, func(data []byte) bool {
		for _, s := range c.sets {
			s.Reset() // each part in sets of its own, whose chunks the next reuses
		}
		if !c.decodePart(data, math.MaxInt64) {
			return false
		}
		for dim, s := range c.sets {
			if s.Len() == 0 {
				continue // not in this part
			}
			if l, ok := last[dim]; ok && s.Key(0) <= l {
				return false // out of rowid order: a row would count twice
			}
			last[dim], _ = s.LastKey()
			lo, _ := slices.BinarySearch(changed, s.Key(0))
			for _, r := range changed[lo:] {
				if r > last[dim] {
					break
				}
				if i, ok := s.Find(r); ok {
					s.Remove(i)
				}
			}
			if dim != vq.dim() {
				res.Skipped += s.Count(f)
				continue
			}
			best.Add(s.Candidates(q, vq.k, max(vq.min, best.Floor()), f, runtime.GOMAXPROCS(0)))
		}
		return true
	}) {
		if ctx.Err() == nil {
			x.damaged.Store(gen) // so that the search does not read it again for a copy
		}
		return SearchResult{}, false, ctx.Err()
	}
	for _, r := range changed {
		delete(c.unreadable, r)
	}
	for _, l := range c.unreadable {
		if f.Matches(l) {
			res.Skipped++
		}
	}
	if err := rescore(ctx, tx, best.Candidates(), vq, &top); err != nil {
		return SearchResult{}, true, err
	}
	res.Hits, err = hitDetails(ctx, tx, top.best())
	return res, true, err
}

// decodeNames reads the domain and type names of a snapshot: a count,
// then each name's length and bytes, then the checksum.
func (c *vectorCopy) decodeNames(b []byte) bool {
	body, ok := checked(b)
	if !ok || len(body) < 4 {
		return false
	}
	n := binary.LittleEndian.Uint32(body)
	body = body[4:]
	for range n {
		if len(body) < 4 {
			return false
		}
		l := binary.LittleEndian.Uint32(body)
		if uint64(len(body)-4) < uint64(l) {
			return false
		}
		name := string(body[4 : 4+l])
		if _, dup := c.numbers[name]; dup {
			return false
		}
		c.number([]byte(name))
		body = body[4+l:]
	}
	return len(body) == 0
}

// encodeNames is the inverse of decodeNames.
func encodeNames(names []string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(names)))
	for _, n := range names {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, snapshotCRC))
}

// checked returns b without its trailing checksum, and whether it holds.
func checked(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	body := b[:len(b)-4]
	return body, crc32.Checksum(body, snapshotCRC) == binary.LittleEndian.Uint32(b[len(b)-4:])
}

// A part is the form of the codes (vecindex.CodesForm), a dimension (0:
// the unreadable rows), a count, the entries in rowid order, then the
// checksum. An entry is a rowid and the two label numbers, then, when the
// dimension is not 0, the scale and the codes.
const partHeader, entryHeader = 12, 16

func entryBytes(dim int) int {
	if dim == 0 {
		return entryHeader
	}
	return entryHeader + 4 + dim
}

// decodePart appends a part to the copy. It reports false when the part
// is damaged, does not follow the parts before it, or would take the copy
// over maxBytes.
func (c *vectorCopy) decodePart(b []byte, maxBytes int64) bool {
	body, ok := checked(b)
	if !ok || len(body) < partHeader {
		return false
	}
	form, dim, count := binary.LittleEndian.Uint32(body), int(binary.LittleEndian.Uint32(body[4:])), int(binary.LittleEndian.Uint32(body[8:]))
	body = body[partHeader:]
	if form != vecindex.CodesForm || dim > len(body) || count == 0 || len(body)%entryBytes(dim) != 0 || len(body)/entryBytes(dim) != count {
		return false
	}
	s := c.sets[dim]
	if dim != 0 && s == nil {
		s = vecindex.NewSet(dim)
		c.sets[dim] = s
	}
	for e := range count {
		p := body[e*entryBytes(dim) : (e+1)*entryBytes(dim)]
		rowid := int64(binary.LittleEndian.Uint64(p))
		l := vecindex.Labels{A: binary.LittleEndian.Uint32(p[8:]), B: binary.LittleEndian.Uint32(p[12:])}
		if l.A >= uint32(len(c.names)) && l.A != opaque || l.B >= uint32(len(c.names)) && l.B != opaque {
			return false
		}
		if dim == 0 {
			if _, dup := c.unreadable[rowid]; dup || c.bytes+unreadableBytes > maxBytes {
				return false
			}
			c.unreadable[rowid] = l
			c.bytes += unreadableBytes
			continue
		}
		if last, ok := s.LastKey(); ok && rowid <= last {
			return false
		}
		scale := math.Float32frombits(binary.LittleEndian.Uint32(p[16:]))
		if !(scale >= 0) || math.IsInf(float64(scale), 0) || c.bytes+s.AppendBytes() > maxBytes {
			return false
		}
		c.bytes += s.AppendBytes()
		s.AppendCoded(rowid, l, scale, p[20:])
	}
	return true
}

// encodeSetPart appends to buf the part of s's positions lo to hi that are
// not removed; it reports how many it wrote.
func encodeSetPart(buf []byte, s *vecindex.Set, lo, hi int) ([]byte, int) {
	buf = binary.LittleEndian.AppendUint32(buf[:0], vecindex.CodesForm)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(s.Dim()))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	n := 0
	for i := lo; i < hi; i++ {
		key, l, scale, codes := s.Coded(i)
		if scale < 0 {
			continue
		}
		buf = binary.LittleEndian.AppendUint64(buf, uint64(key))
		buf = binary.LittleEndian.AppendUint32(buf, l.A)
		buf = binary.LittleEndian.AppendUint32(buf, l.B)
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(scale))
		buf = append(buf, codes...)
		n++
	}
	binary.LittleEndian.PutUint32(buf[8:], uint32(n))
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, snapshotCRC)), n
}

// encodeUnreadable is the part of the copy's unreadable rows.
func (c *vectorCopy) encodeUnreadable() []byte {
	rowids := make([]int64, 0, len(c.unreadable))
	for r := range c.unreadable {
		rowids = append(rowids, r)
	}
	slices.Sort(rowids)
	buf := binary.LittleEndian.AppendUint32(nil, vecindex.CodesForm)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(rowids)))
	for _, r := range rowids {
		l := c.unreadable[r]
		buf = binary.LittleEndian.AppendUint64(buf, uint64(r))
		buf = binary.LittleEndian.AppendUint32(buf, l.A)
		buf = binary.LittleEndian.AppendUint32(buf, l.B)
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, snapshotCRC))
}

// maybeSnapshot starts writing a snapshot of x.c in the background when
// the store can write, the copy is whole, none is being written, and the
// copy was read whole or caught up on many rows since its last snapshot.
// Called under x.mu's Lock.
func (x *vectorIndex) maybeSnapshot() {
	c := x.c
	if x.writer == nil || c == nil || c.full || c.upto != math.MaxInt64 {
		return
	}
	if !x.snapDue && x.sinceSnapshot <= max(snapshotEvery, c.len()/8) {
		return
	}
	x.snapMu.Lock()
	defer x.snapMu.Unlock()
	if x.snapClosed || x.snapWriting {
		return
	}
	x.snapWriting = true
	x.snapDue, x.sinceSnapshot = false, 0
	x.snapWG.Add(1)
	go func() {
		defer x.snapWG.Done()
		err := x.writeSnapshot(x.snapCtx, c)
		x.snapMu.Lock()
		x.snapWriting = false
		x.snapMu.Unlock()
		if err != nil && x.snapCtx.Err() == nil && !errors.Is(err, errSnapshotGone) {
			x.log.Warn("resonance: vector search snapshot not written; the next process's first search reads every embedding", "db", x.path, "err", err)
		}
	}()
}

// errSnapshotGone stops a snapshot whose copy was read whole again.
var errSnapshotGone = errors.New("the copy was replaced")

// writeSnapshot writes c as a new generation and publishes it.
func (x *vectorIndex) writeSnapshot(ctx context.Context, c *vectorCopy) error {
	x.mu.RLock()
	if x.c != c || x.stale.Load() {
		x.mu.RUnlock()
		return errSnapshotGone
	}
	seq, schema := c.seq, c.schema
	dims := make([]int, 0, len(c.sets))
	lens := map[int]int{}
	for d, s := range c.sets {
		dims = append(dims, d)
		lens[d] = s.Len()
	}
	var unreadable []byte
	if len(c.unreadable) > 0 {
		unreadable = c.encodeUnreadable()
	}
	x.mu.RUnlock()
	slices.Sort(dims)

	w := x.writer
	res, err := w.ExecContext(ctx, insertSnapshot, seq, schema)
	if err != nil {
		return fmt.Errorf("begin a snapshot: %w", classify(err))
	}
	gen, err := res.LastInsertId()
	if err != nil {
		return err
	}
	published := false
	defer func() {
		// A snapshot that failed (a full disk, the copy replaced) gives
		// its parts back at once; one cancelled leaves them to the next
		// one published.
		if !published && ctx.Err() == nil {
			x.dropGeneration(ctx, gen)
		}
	}()
	part := 0
	put := func(data []byte) error {
		if _, err := w.ExecContext(ctx, insertSnapshotPart, gen, part, data); err != nil {
			return fmt.Errorf("write a snapshot part: %w", classify(err))
		}
		part++
		x.snapSteps.Add(1)
		if x.afterSnapshotPart != nil {
			x.afterSnapshotPart(part)
		}
		return nil
	}
	var buf []byte
	for _, d := range dims {
		per := max(1, x.partBytes/entryBytes(d))
		for lo := 0; lo < lens[d]; lo += per {
			x.mu.RLock()
			if x.c != c {
				x.mu.RUnlock()
				return errSnapshotGone
			}
			var n int
			buf, n = encodeSetPart(buf, c.sets[d], lo, min(lens[d], lo+per))
			x.mu.RUnlock()
			if n == 0 {
				continue
			}
			if err := put(buf); err != nil {
				return err
			}
		}
	}
	if unreadable != nil {
		if err := put(unreadable); err != nil {
			return err
		}
	}
	x.mu.RLock()
	if x.c != c {
		x.mu.RUnlock()
		return errSnapshotGone
	}
	names, size := encodeNames(c.names), c.bytes
	x.mu.RUnlock()
	res, err = w.ExecContext(ctx, publishSnapshot, part, size, names, gen)
	if err != nil {
		return fmt.Errorf("publish a snapshot: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(errors.New("publish a snapshot: another store dropped it"), err)
	}
	published = true
	x.snapshotWrites.Add(1)
	return x.dropOlderSnapshots(ctx, gen)
}

// dropOlderSnapshots drops the generations before gen, a part per
// transaction, then each generation's row.
func (x *vectorIndex) dropOlderSnapshots(ctx context.Context, gen int64) error {
	rows, err := x.writer.QueryContext(ctx, listOlderSnapshots, gen)
	if err != nil {
		return fmt.Errorf("drop old snapshots: %w", classify(err))
	}
	var old []int64
	for rows.Next() {
		var g int64
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return fmt.Errorf("drop old snapshots: %w", classify(err))
		}
		old = append(old, g)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("drop old snapshots: %w", classify(err))
	}
	for _, g := range old {
		if err := x.dropGeneration(ctx, g); err != nil {
			return fmt.Errorf("drop old snapshots: %w", err)
		}
	}
	return nil
}

// dropGeneration deletes generation g, a part per transaction.
func (x *vectorIndex) dropGeneration(ctx context.Context, g int64) error {
	for {
		res, err := x.writer.ExecContext(ctx, dropSnapshotPart, g)
		if err != nil {
			return classify(err)
		}
		x.snapSteps.Add(1)
		if n, _ := res.RowsAffected(); n == 0 {
			break
		}
	}
	if _, err := x.writer.ExecContext(ctx, dropSnapshot, g); err != nil {
		return classify(err)
	}
	return nil
}

// stopSnapshot starts no other snapshot and waits for the one being
// written while it makes progress: it is cancelled once no statement of
// it has finished for idle (at once when idle is 0), so that a writer
// held elsewhere cannot hold Close.
func (x *vectorIndex) stopSnapshot(idle time.Duration) {
	x.snapMu.Lock()
	x.snapClosed = true
	x.snapMu.Unlock()
	done := make(chan struct{})
	go func() {
		x.snapWG.Wait()
		close(done)
	}()
	for last := x.snapSteps.Load(); idle > 0; {
		select {
		case <-done:
			x.snapCancel()
			return
		case <-time.After(idle):
		}
		now := x.snapSteps.Load()
		if now == last {
			break
		}
		last = now
	}
	x.snapCancel()
	<-done
}
