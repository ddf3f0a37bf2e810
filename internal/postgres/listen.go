package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
)

// StatusChannel is the NOTIFY channel on which every committed status
// change of an order is announced (queries: MarkProcessingMany, MarkFailed,
// NotifyStatus), in commit order.
const StatusChannel = "order_status"

// ListenerAppName is the application_name of the listener's connection
// (pg_stat_activity).
const ListenerAppName = "orderstream-listener"

// statusPayload is the JSON of one order_status notification.
type statusPayload struct {
	ID         int64     `json:"id"`
	UserID     string    `json:"user_id"`
	ExternalID string    `json:"external_id"`
	Status     string    `json:"status"`
	EventID    int       `json:"event_id"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Listener LISTENs on StatusChannel over one dedicated connection (not
// from the pool: LISTEN belongs to a session) and hands each change to
// Publish. When the connection is lost it reconnects with backoff and then
// calls Resync, because changes committed in between were not announced
// to it.
type Listener struct {
	URL     string
	Publish func(order.StatusChange)
	// Resync is called each time LISTEN (again) runs.
	Resync func()
	Log    *slog.Logger
	// MaxBackoff bounds the wait between reconnects (default 5 s).
	MaxBackoff time.Duration
	// PingEvery is how long a quiet connection waits before it checks that
	// the server is still there (default 30 s).
	PingEvery time.Duration
}

// Run listens until ctx ends; it returns nil then.
func (l *Listener) Run(ctx context.Context) error {
	maxBackoff := l.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
	}
	backoff := 100 * time.Millisecond
	for {
		err := l.listen(ctx, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return nil
		}
		l.Log.Warn("order status listener: connection lost, reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// listen runs one connection: LISTEN, Resync, then notifications until an
// error. connected is called once LISTEN runs.
func (l *Listener) listen(ctx context.Context, connected func()) error {
	pcfg, err := pgxpool.ParseConfig(l.URL) // accepts (and ignores) the pool_* parameters
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg := pcfg.ConnConfig
	cfg.RuntimeParams["application_name"] = ListenerAppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+StatusChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	connected()
	l.Log.Info("order status listener: listening", "channel", StatusChannel)
	if l.Resync != nil {
		l.Resync()
	}
	pingEvery := l.PingEvery
	if pingEvery <= 0 {
		pingEvery = 30 * time.Second
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, pingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet: make sure the server is still there.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			continue
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
		var p statusPayload
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil || !order.Status(p.Status).Valid() {
			l.Log.Warn("order status listener: bad payload", "err", err, "bytes", len(n.Payload))
			continue
		}
		l.Publish(order.StatusChange{OrderID: p.ID, UserID: p.UserID, ExternalID: p.ExternalID,
			Status: order.Status(p.Status), EventID: p.EventID, UpdatedAt: p.UpdatedAt})
	}
}
