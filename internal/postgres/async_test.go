package postgres

import (
	"context"
	"testing"

	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// TestAsyncCommitIsLocal checks that queueAsyncTx (queueMarkProcessing's
// transaction) turns synchronous_commit off for that transaction only: the
// setting holds within it and is gone afterwards on the same connection.
func TestAsyncCommitIsLocal(t *testing.T) {
	ctx := context.Background()
	pool, err := Open(ctx, pgtest.NewDB(t), 1) // one connection: the next query reuses it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	// The test cluster runs with synchronous_commit off; make the session's
	// setting on, as in production.
	if _, err := pool.Exec(ctx, "SET synchronous_commit = on; CREATE TABLE probe (setting text)"); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipe{conn: conn}
	queueAsyncTx(ctx, p, func(*db.Queries) {
		p.Exec(ctx, "INSERT INTO probe SELECT current_setting('synchronous_commit')")
	})
	err = p.flush(ctx)
	p.release(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var during, after string
	if err := pool.QueryRow(ctx, "SELECT setting FROM probe").Scan(&during); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if during != "off" || after != "on" {
		t.Errorf("synchronous_commit during the statement %q, after %q; want off, on", during, after)
	}
}
