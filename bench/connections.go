package bench

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/resonance-graph/resonancedb/resonance"
)

// connectionNodes is how many nodes P4's database holds: the count query
// stays cheap, so the figure is the connection's cost.
const connectionNodes = 100

// connChunk is how many P4 connections (and, times 20, P4pool queries)
// run on one side (or P4's C floor) before the next one's turn.
const connChunk = 50

// connections is P4 and P4pool, each side on a fresh database holding a
// few nodes: µs per (open, harden, count, close) while another connection
// stays open, and µs per count through a long-lived pool. The sides
// alternate every connChunk connections. P4's C floor opens, sets up,
// counts and closes from C on the baseline's database.
func (r *runner) connections(outer context.Context, order []side, s [2]sample) error {
	var cs [2]*connSide
	for _, sd := range order {
		c, err := r.connSetup(sd)
		if err != nil {
			return fmt.Errorf("%s: %w", sd, err)
		}
		defer c.close()
		cs[sd] = c
	}
	once := [3]func() error{lib: cs[lib].once, base: cs[base].once, cfloor: func() error {
		n, err := floorConnect(cs[base].path)
		if err != nil {
			return err
		}
		return checkCount(n)
	}}
	n := r.cfg.Connects
	el, err := interleave("P4", append(slices.Clone(order), cfloor), (n+connChunk-1)/connChunk, func(sd side, k int) error {
		if outer.Err() != nil {
			return outer.Err()
		}
		for range min(connChunk, n-k*connChunk) {
			if err := once[sd](); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s[base]["P4"+floorSuffix] = usPer(el[cfloor], n)
	for _, sd := range order {
		s[sd]["P4"] = usPer(el[sd], n)
		// Warm the pool's connection and statement first.
		if _, err := cs[sd].poolCount(); err != nil {
			return fmt.Errorf("%s: %w", sd, err)
		}
	}
	q, per := r.cfg.PoolQueries, 20*connChunk
	el, err = interleave("P4pool", order, (q+per-1)/per, func(sd side, k int) error {
		for range min(per, q-k*per) {
			got, err := cs[sd].poolCount()
			if err == nil {
				err = checkCount(got)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sd := range order {
		s[sd]["P4pool"] = usPer(el[sd], q)
	}
	return nil
}

// connSide is one side's P4 setup: its database, kept open by a store (on
// the baseline side too, so both run beside the same open connection),
// how it opens a connection, and its long-lived pool.
type connSide struct {
	path      string
	s         *resonance.Store
	open      func() (*sql.DB, error)
	pool      *sql.DB // the baseline's own pool; nil for the library (the store's)
	poolCount func() (int64, error)
}

func (c *connSide) close() {
	if c.pool != nil {
		c.pool.Close()
	}
	c.s.Close()
	removeDB(c.path)
}

// once opens a connection, counts the nodes and closes it.
func (c *connSide) once() error {
	db, err := c.open()
	if err != nil {
		return err
	}
	var n int64
	err = db.QueryRowContext(ctx, sqlCountNodes).Scan(&n)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = checkCount(n)
	}
	return err
}

func checkCount(n int64) error {
	if n != connectionNodes {
		return fmt.Errorf("count(*) = %d, want %d", n, connectionNodes)
	}
	return nil
}

func (r *runner) connSetup(sd side) (*connSide, error) {
	c := &connSide{path: r.freshPath("w4", sd)}
	s, err := resonance.Open(ctx, c.path, resonance.Options{Create: true})
	if err != nil {
		removeDB(c.path)
		return nil, err
	}
	c.s = s
	err = s.Tx(ctx, func(ctx context.Context, tx *resonance.Tx) error {
		var nb nodeBuf
		for i := range connectionNodes {
			if err := tx.UpsertNode(ctx, r.data.node(&nb, nodeID("w4", i), i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.close()
		return nil, err
	}
	if sd == lib {
		path := c.path
		c.open = func() (*sql.DB, error) { return resonance.Connect(ctx, path, resonance.Options{}) }
		pool := s.ReadDB()
		c.poolCount = func() (int64, error) {
			var n int64
			err := pool.QueryRowContext(ctx, sqlCountNodes).Scan(&n)
			return n, err
		}
		return c, nil
	}
	dsn := baselineDSN(c.path)
	c.open = func() (*sql.DB, error) { return sql.Open(baselineDriver, dsn) }
	if c.pool, err = sql.Open(baselineDriver, dsn); err != nil {
		c.close()
		return nil, err
	}
	st, err := c.pool.Prepare(sqlCountNodes)
	if err != nil {
		c.close()
		return nil, err
	}
	c.poolCount = func() (int64, error) {
		var n int64
		err := st.QueryRow().Scan(&n)
		return n, err
	}
	return c, nil
}
