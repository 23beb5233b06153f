package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/resonance-graph/resonancedb/resonance"
)

// connectionNodes is how many nodes W4's database holds: the count query
// stays cheap, so the figure is the connection's cost.
const connectionNodes = 100

// connections is W4 and W4pool on a fresh database holding a few nodes:
// µs per (open, harden, count, close) while another connection stays open,
// and µs per count through a long-lived pool.
func (r *runner) connections(outer context.Context, sd side) (perConn, pooled float64, err error) {
	path := r.freshPath("w4", sd)
	defer removeDB(path)
	s, err := resonance.Open(ctx, path, resonance.Options{Create: true})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
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
		return 0, 0, err
	}
	check := func(n int64) error {
		if n != connectionNodes {
			return fmt.Errorf("count(*) = %d, want %d", n, connectionNodes)
		}
		return nil
	}

	// The other connection: the store's writer stays open (on the baseline
	// side too, so both run beside the same open connection).
	var open func() (*sql.DB, error)
	var pool *sql.DB
	var poolCount func() (int64, error)
	if sd == lib {
		open = func() (*sql.DB, error) { return resonance.Connect(ctx, path, resonance.Options{}) }
		pool = s.ReadDB()
		poolCount = func() (int64, error) {
			var n int64
			err := pool.QueryRowContext(ctx, sqlCountNodes).Scan(&n)
			return n, err
		}
	} else {
		dsn := baselineDSN(path)
		open = func() (*sql.DB, error) { return sql.Open(baselineDriver, dsn) }
		if pool, err = sql.Open(baselineDriver, dsn); err != nil {
			return 0, 0, err
		}
		defer pool.Close()
		st, err := pool.Prepare(sqlCountNodes)
		if err != nil {
			return 0, 0, err
		}
		poolCount = func() (int64, error) {
			var n int64
			err := st.QueryRow().Scan(&n)
			return n, err
		}
	}
	t0 := time.Now()
	for i := range r.cfg.Connects {
		if i%100 == 0 && outer.Err() != nil {
			return 0, 0, outer.Err()
		}
		db, err := open()
		if err != nil {
			return 0, 0, err
		}
		var n int64
		err = db.QueryRowContext(ctx, sqlCountNodes).Scan(&n)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = check(n)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	perConn = usPer(time.Since(t0), r.cfg.Connects)

	// Warm the pool's connection and statement first.
	if _, err := poolCount(); err != nil {
		return 0, 0, err
	}
	t0 = time.Now()
	for range r.cfg.PoolQueries {
		n, err := poolCount()
		if err == nil {
			err = check(n)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	pooled = usPer(time.Since(t0), r.cfg.PoolQueries)
	return perConn, pooled, nil
}
