// Package postgres stores orders and their events in PostgreSQL through the
// sqlc-generated queries in package db. It implements order.Store and the
// worker's side of event application.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"

	"github.com/orderstream/orderstream/internal/backoff"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/migrations"
)

// Option adjusts the pool configuration of Open.
type Option func(*pgxpool.Config)

// WithKeyPlans is for the worker's connections: every statement it runs
// reads orders and events by their keys (the batch statements take arrays
// of ids), and each is planned once per connection instead of at every
// batch. Planning took as long as running: about 0.2 ms for each of the
// three statements of a one-order batch, 0.5 ms per batch in all.
//
// A generic plan is made with the statistics of the moment, and a plan
// made while a table was empty or not yet analyzed chose sequential scans
// and hash or merge joins, kept however large the table grows until the
// next ANALYZE (each batch then reads both tables whole: found by make
// bench on a fresh database). So, for these sessions only, those plan
// types are disabled: the one plan left is a nested loop over the primary
// keys, which is right at any table size and any batch size
// (TestWorkerPlansAreKeyLookups checks each batch statement's generic
// plan on a never analyzed table of three orders).
func WithKeyPlans() Option {
	return func(c *pgxpool.Config) {
		for name, value := range KeyPlanSettings {
			c.ConnConfig.RuntimeParams[name] = value
		}
	}
}

// KeyPlanSettings are the server settings of WithKeyPlans. Behind a pooler
// that drops startup parameters (PgBouncer), set them on the worker's role
// instead (ALTER ROLE ... SET, docs/SCALING.md).
var KeyPlanSettings = map[string]string{
	"plan_cache_mode":  "force_generic_plan",
	"enable_seqscan":   "off",
	"enable_hashjoin":  "off",
	"enable_mergejoin": "off",
}

// SessionTimeouts are the server settings Open gives every connection of
// the API and the worker, in milliseconds.
var SessionTimeouts = map[string]string{
	"idle_in_transaction_session_timeout": "5000",
	"lock_timeout":                        "10000",
	"statement_timeout":                   "30000",
}

// Open returns a connection pool for databaseURL. It does not connect yet:
// use WaitReady to wait for the database.
func Open(ctx context.Context, databaseURL string, maxConns int32, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	// A process frozen in the middle of a transaction (SIGSTOP, a GC pause
	// of minutes, a hung host) must not hold its row locks for ever: the
	// server ends such a session, and a statement that waits too long for
	// a lock fails instead of stalling everyone behind it. Each is well
	// above a batch's worst time; a URL's own settings win.
	for name, value := range SessionTimeouts {
		if _, set := cfg.ConnConfig.RuntimeParams[name]; !set {
			cfg.ConnConfig.RuntimeParams[name] = value
		}
	}
	// pgx encodes a github.com/google/uuid value through database/sql's
	// Valuer otherwise: as a string that it parses back, and in a uuid[]
	// (a batch of creates binds its users as one) it also builds and drops
	// an error for each element. Registered, a uuid is its 16 bytes.
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		RegisterUUID(c.TypeMap())
		return nil
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	return pool, nil
}

// WaitReady pings the database until it answers or ctx ends, with the
// start-up backoff of backoff.Retry.
func WaitReady(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	return backoff.Retry(ctx, log, "ping database", func() error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return pool.Ping(pctx)
	})
}

// Start is the start-up of a process that uses the database: Open, wait
// until the database answers, apply the migrations, retrying with backoff
// until startCtx ends. The pool lives on ctx. The migrations run as
// migrateURL, the tables' owner (MIGRATE_DATABASE_URL), while the pool
// connects as databaseURL, a role that row-level security binds; "" means
// databaseURL.
func Start(ctx, startCtx context.Context, databaseURL, migrateURL string, maxConns int32, log *slog.Logger, opts ...Option) (*pgxpool.Pool, error) {
	if migrateURL == "" {
		migrateURL = databaseURL
	}
	pool, err := Open(ctx, databaseURL, maxConns, opts...)
	if err != nil {
		return nil, err
	}
	err = WaitReady(startCtx, pool, log)
	if err == nil {
		err = backoff.Retry(startCtx, log, "apply migrations", func() error { return Migrate(migrateURL) })
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// RegisterUUID makes m encode and scan github.com/google/uuid values as
// PostgreSQL uuids directly (pgx-google-uuid). Open does it for every
// connection of its pool.
func RegisterUUID(m *pgtype.Map) { pgxuuid.Register(m) }

// Migrate applies the embedded migrations to databaseURL (migrations.Up).
func Migrate(databaseURL string) error { return migrations.Up(databaseURL) }

// MigrateURL turns a postgres:// URL into the pgx5:// form golang-migrate's
// pgx v5 driver expects (migrations.URL).
func MigrateURL(databaseURL string) string { return migrations.URL(databaseURL) }

// mapErr turns a database failure into an error for the caller: connection
// problems and timeouts become EUNAVAILABLE, the rest stays internal.
func mapErr(action string, err error) error {
	if err == nil {
		return nil
	}
	var oe *order.Error
	if errors.As(err, &oe) {
		return err
	}
	if unavailable(err) {
		return order.Unavailable("the database", fmt.Errorf("%s: %w", action, err))
	}
	return fmt.Errorf("%s: %w", action, err)
}

func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutdown, cannot connect now
			pgErr.Code == "53300",                        // too many connections
			pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock: retryable
			// A transaction cut off by the session timeouts (Open):
			// idle in transaction too long, a lock or statement too slow.
			pgErr.Code == "25P03", pgErr.Code == "55P03", pgErr.Code == "57014":
			return true
		}
		return false
	}
	// A connection that breaks mid-statement surfaces as an EOF or a
	// closed connection rather than a net.Error.
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed")
}
