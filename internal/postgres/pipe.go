package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipe runs sqlc statements on one connection with fewer round trips, for
// the worker's batch: statements whose results the code does not need at
// once (Exec: BEGIN, a status update, NOTIFY, COMMIT) are queued, and the
// next Query sends them, the query, and the statements queued with after
// set, as one pgx batch. Transaction control statements in a batch work as
// in a script: the batch "BEGIN; …; COMMIT; BEGIN; SELECT … FOR UPDATE"
// commits one transaction and starts the next in one round trip.
//
// Exec reports no error and no rows: a queued statement's error surfaces
// from the Query that sends it (or from flush). After an error the
// connection may be left in a failed transaction: release it with
// releasePipe, which rolls back.
type pipe struct {
	conn   *pgxpool.Conn
	before pgx.Batch
	// after, when set, makes Exec queue behind the next query instead.
	after      bool
	afterBatch pgx.Batch
}

func (p *pipe) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.after {
		p.afterBatch.Queue(sql, args...)
	} else {
		p.before.Queue(sql, args...)
	}
	return pgconn.CommandTag{}, nil
}

func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	var b pgx.Batch
	b.QueuedQueries = append(b.QueuedQueries, p.before.QueuedQueries...)
	nBefore := len(b.QueuedQueries)
	b.Queue(sql, args...)
	b.QueuedQueries = append(b.QueuedQueries, p.afterBatch.QueuedQueries...)
	nAfter := len(p.afterBatch.QueuedQueries)
	p.before, p.afterBatch, p.after = pgx.Batch{}, pgx.Batch{}, false

	br := p.conn.SendBatch(ctx, &b)
	for range nBefore {
		if _, err := br.Exec(); err != nil {
			return nil, errors.Join(err, br.Close())
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &pipeRows{Rows: rows, br: br, after: nAfter}, nil
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return &batchRow{rows: rows, err: err}
}

// flush sends the queued statements, if any, and returns the first error.
func (p *pipe) flush(ctx context.Context) error {
	if len(p.before.QueuedQueries) == 0 {
		return nil
	}
	b := p.before
	p.before = pgx.Batch{}
	br := p.conn.SendBatch(ctx, &b)
	for range b.QueuedQueries {
		if _, err := br.Exec(); err != nil {
			return errors.Join(err, br.Close())
		}
	}
	return br.Close()
}

// release rolls back what a failed pipe left open and returns the
// connection to the pool.
func (p *pipe) release(ctx context.Context) {
	if p.conn.Conn().PgConn().TxStatus() != 'I' {
		// Best effort: a connection still in a transaction is closed by
		// the pool on release anyway.
		p.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck
	}
	p.conn.Release()
}

// pipeRows are the rows of a batch's query (a pipe's, or userConn's). When
// they are read to the end or closed, the rest of the batch is read: the
// after statements queued behind the query (COMMIT, say), whose error
// becomes the rows' error, so that sqlc's generated code returns it.
type pipeRows struct {
	pgx.Rows
	br    pgx.BatchResults
	after int
	done  bool
	err   error
}

func (r *pipeRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *pipeRows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	if r.Rows.Err() == nil {
		for range r.after {
			if _, err := r.br.Exec(); err != nil {
				r.err = err
				break
			}
		}
	}
	if err := r.br.Close(); r.err == nil {
		r.err = err
	}
}

func (r *pipeRows) Close() { r.finish() }

func (r *pipeRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}
