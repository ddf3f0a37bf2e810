package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// startListener runs a Listener on url; it returns the changes it
// publishes and a channel that gets a value each time LISTEN runs.
func startListener(t *testing.T, url string) (<-chan order.StatusChange, <-chan struct{}) {
	t.Helper()
	changes, resyncs := make(chan order.StatusChange, 100), make(chan struct{}, 10)
	l := &postgres.Listener{URL: url, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Publish:   func(c order.StatusChange) { changes <- c },
		Resync:    func() { resyncs <- struct{}{} },
		PingEvery: 200 * time.Millisecond, // exercise the quiet-connection path
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-resyncs // listening
	return changes, resyncs
}

func wantChange(t *testing.T, changes <-chan order.StatusChange, o order.Order, status order.Status, eventID int) {
	t.Helper()
	c := <-changes
	if c.OrderID != o.ID || c.UserID != o.UserID || c.ExternalID != o.ExternalID || c.Status != status || c.EventID != eventID || c.UpdatedAt.IsZero() {
		t.Fatalf("got %+v; want order %d (%s, %s) %s event %d with its time", c, o.ID, o.UserID, o.ExternalID, status, eventID)
	}
}

// TestNotifyStatusChanges: every status change committed by the store is
// announced on order_status, in commit order; the create is not.
func TestNotifyStatusChanges(t *testing.T) {
	s, _, url := newStore(t)
	changes, _ := startListener(t, url)
	ctx := context.Background()
	user := uuid.NewString()
	o, ev, _ := create(t, s, "n-1", user, items("1.00"))

	if err := s.markProcessing(ctx, order.EventKey{OrderID: o.ID, EventID: ev.EventID}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusProcessing, 0)
	if _, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: ev.EventID}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusDone, 0)

	_, _, err := s.AppendEvent(ctx, o.ExternalID, user, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventUpdate, Items: items("2.00")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusNew, 1)
	if err := s.MarkFailed(ctx, o.ID, "poison"); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusFailed, 1)

	if err := s.MarkFailed(ctx, o.ID, "again"); err != nil { // no change: no announcement
		t.Fatal(err)
	}
	o2, _, _ := create(t, s, "n-2", user, items("1.00"))
	if _, err := s.process(ctx, order.EventKey{OrderID: o2.ID, EventID: 0}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o2, order.StatusProcessing, 0)
	wantChange(t, changes, o2, order.StatusDone, 0) // the next one: nothing for the unchanged order
}

// TestNotifyRolledBack: a change that is rolled back is never announced.
func TestNotifyRolledBack(t *testing.T) {
	s, pool, url := newStore(t)
	changes, _ := startListener(t, url)
	ctx := context.Background()
	user := uuid.NewString()
	o, _, _ := create(t, s, "r-1", user, items("1.00"))

	rollback := func(f func(q *db.Queries) error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := f(db.New(tx)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rollback(func(q *db.Queries) error {
		_, err := q.MarkProcessingMany(ctx, db.MarkProcessingManyParams{Ids: []int64{o.ID}, EventIds: []int32{0}})
		return err
	})
	rollback(func(q *db.Queries) error { return q.NotifyStatus(ctx, []int64{o.ID}) })
	_, _, err := s.AppendEvent(ctx, o.ExternalID, user, func(order.Order) (*order.Event, error) {
		return nil, order.Errorf(order.ECONFLICT, "refused after the lock") // the transaction rolls back
	})
	if order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("AppendEvent: got %v; want CONFLICT", err)
	}

	// Notifications come in commit order: the next one must be this commit's.
	if _, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: 0}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusProcessing, 0)
	wantChange(t, changes, o, order.StatusDone, 0)
}

// TestListenerReconnects: when its connection is killed, the listener
// reconnects, calls Resync, and announces the changes after that.
func TestListenerReconnects(t *testing.T) {
	s, pool, url := newStore(t)
	changes, resyncs := startListener(t, url)
	ctx := context.Background()
	o, _, _ := create(t, s, "c-1", uuid.NewString(), items("1.00"))

	terminateListeners(t, pool)
	<-resyncs // back
	if _, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: 0}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o, order.StatusProcessing, 0)
	wantChange(t, changes, o, order.StatusDone, 0)
}

func terminateListeners(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, postgres.ListenerAppName).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate the listener: %d backends, %v; want 1", n, err)
	}
}

// TestListenerOnlyWhileWanted: with Wanted, the listener LISTENs only while
// it reports true: changes committed while it is false are not announced
// (the first announcement after is a later commit's), and turning it true
// with Poke LISTENs again and calls Resync.
func TestListenerOnlyWhileWanted(t *testing.T) {
	s, owner, url := newStore(t)
	ctx := context.Background()
	var wanted atomic.Bool
	changes, resyncs := make(chan order.StatusChange, 100), make(chan struct{}, 10)
	l := &postgres.Listener{URL: url, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Publish: func(c order.StatusChange) { changes <- c },
		Resync:  func() { resyncs <- struct{}{} },
		Wanted:  wanted.Load,
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })

	user := uuid.NewString()
	mark := func(ext string) order.Order {
		o, ev, _ := create(t, s, ext, user, items("1.00"))
		if err := s.markProcessing(ctx, order.EventKey{OrderID: o.ID, EventID: ev.EventID}); err != nil {
			t.Fatal(err)
		}
		return o
	}
	mark("w-unwanted") // not announced: nobody listens
	wanted.Store(true)
	l.Poke()
	<-resyncs // listening again, subscribers told to read their orders
	wantChange(t, changes, mark("w-wanted"), order.StatusProcessing, 0)

	wanted.Store(false)
	// It stops listening lazily: this change is still announced, then it UNLISTENs.
	wantChange(t, changes, mark("w-last"), order.StatusProcessing, 0)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var last string
		err := owner.QueryRow(ctx, "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
			postgres.ListenerAppName).Scan(&last)
		if err == nil && strings.HasPrefix(last, "UNLISTEN") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener did not UNLISTEN: last statement %q, %v", last, err)
		}
	}
	mark("w-unwanted-2")
	wanted.Store(true)
	l.Poke()
	<-resyncs
	wantChange(t, changes, mark("w-again"), order.StatusProcessing, 0)
}
