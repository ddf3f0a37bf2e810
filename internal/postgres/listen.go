package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/backoff"
	"github.com/orderstream/orderstream/internal/order"
)

// StatusChannel is the NOTIFY channel on which every committed status
// change of an order is announced (queries: MarkProcessingMany, MarkFailed,
// NotifyStatus; migration 000005's fail_unpublishable_event), in commit
// order. The payload is the order id in decimal, nothing else: any login
// may LISTEN or NOTIFY on it (docs/SECURITY.md).
const StatusChannel = "order_status"

// ListenerAppName is the application_name of the listener's connection
// (pg_stat_activity).
const ListenerAppName = "orderstream-listener"

// Listener LISTENs on StatusChannel over one dedicated connection (not
// from the pool: LISTEN belongs to a session) and hands each change to
// Publish. When the connection is lost it reconnects with backoff and then
// calls Resync, because changes committed in between were not announced
// to it.
//
// With Wanted set, it listens only while Wanted reports true (while the
// instance has subscribers): an API instance nobody subscribes to then
// receives no notifications (two per order otherwise, decoded for
// nothing: 5 % of the API's CPU under load). Call Poke when Wanted may have
// turned true; it then LISTENs and calls Resync, so that a change committed
// before LISTEN took effect is read by the subscribers' resync. It stops
// listening lazily, at the next notification or ping after Wanted turned
// false.
type Listener struct {
	URL     string
	Publish func(order.StatusChange)
	// Resync is called each time LISTEN (again) runs.
	Resync func()
	// Wanted, when set, tells whether to listen (nil: always).
	Wanted func() bool
	Log    *slog.Logger
	// MaxBackoff bounds the wait between reconnects (default 5 s).
	MaxBackoff time.Duration
	// PingEvery is how long a quiet connection waits before it checks that
	// the server is still there (default 30 s).
	PingEvery time.Duration

	wake     chan struct{}
	wakeOnce sync.Once
}

// Poke makes the listener check Wanted again soon; it never blocks.
func (l *Listener) Poke() {
	select {
	case l.wakeChan() <- struct{}{}:
	default:
	}
}

func (l *Listener) wakeChan() chan struct{} {
	l.wakeOnce.Do(func() { l.wake = make(chan struct{}, 1) })
	return l.wake
}

// Run listens until ctx ends; it returns nil then.
func (l *Listener) Run(ctx context.Context) error {
	maxBackoff := l.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = backoff.DefaultMax
	}
	b := backoff.New(backoff.DefaultInitial, maxBackoff)
	for {
		err := l.listen(ctx, b.Reset)
		if ctx.Err() != nil {
			return nil
		}
		l.Log.Warn("order status listener: connection lost, reconnecting", "err", err, "in", b.Peek().String())
		if b.Sleep(ctx) != nil {
			return nil
		}
	}
}

// listen runs one connection: LISTEN (while wanted), Resync, then
// notifications until an error. connected is called once connected.
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
	connected()
	pingEvery := l.PingEvery
	if pingEvery <= 0 {
		pingEvery = 30 * time.Second
	}
	ping := func() error {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := conn.Ping(pctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		return nil
	}
	listening := false
	for {
		if want := l.Wanted == nil || l.Wanted(); want != listening {
			sql := "UNLISTEN " + StatusChannel
			if want {
				sql = "LISTEN " + StatusChannel
			}
			if _, err := conn.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
			listening = want
			if !want {
				l.Log.Info("order status listener: no subscribers, not listening", "channel", StatusChannel)
				continue
			}
			l.Log.Info("order status listener: listening", "channel", StatusChannel)
			if l.Resync != nil {
				l.Resync()
			}
		}
		if !listening {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.wakeChan():
			case <-time.After(pingEvery):
				if err := ping(); err != nil {
					return err
				}
			}
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, pingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet: make sure the server is still there.
			if err := ping(); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil || id <= 0 {
			l.Log.Warn("order status listener: bad payload (not an order id)", "bytes", len(n.Payload), "from_pid", n.PID)
			continue
		}
		// Only a hint: the subscribers of this order read it again.
		l.Publish(order.StatusChange{OrderID: id})
	}
}
