package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/postgres/db"
	"github.com/orderstream/orderstream/internal/pubsub"
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

// wantChange takes the next announcement and checks it names o, and only o.
func wantChange(t *testing.T, changes <-chan order.StatusChange, o order.Order) {
	t.Helper()
	select {
	case c := <-changes:
		if c != (order.StatusChange{OrderID: o.ID}) {
			t.Fatalf("got %+v; want an announcement of order %d", c, o.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no announcement of order %d", o.ID)
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
	wantChange(t, changes, o)
	if _, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: ev.EventID}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o)

	_, _, err := s.AppendEvent(ctx, o.ExternalID, user, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventUpdate, Items: items("2.00")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o)
	if err := s.MarkFailed(ctx, o.ID, "poison"); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o)

	if err := s.MarkFailed(ctx, o.ID, "again"); err != nil { // no change: no announcement
		t.Fatal(err)
	}
	o2, _, _ := create(t, s, "n-2", user, items("1.00"))
	if _, err := s.process(ctx, order.EventKey{OrderID: o2.ID, EventID: 0}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, changes, o2)
	wantChange(t, changes, o2) // the next one: nothing for the unchanged order
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
	wantChange(t, changes, o)
	wantChange(t, changes, o)
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
	wantChange(t, changes, o)
	wantChange(t, changes, o)
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
	wantChange(t, changes, mark("w-wanted"))

	wanted.Store(false)
	// It stops listening lazily: this change is still announced, then it UNLISTENs.
	wantChange(t, changes, mark("w-last"))
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
	wantChange(t, changes, mark("w-again"))
}

// TestForgedNotifyIsOnlyARead: the status channel is outside row-level
// security (any login may LISTEN and NOTIFY), so what it carries must be
// useless to a listener and harmless when forged. Another login that
// listens sees order ids only; notifications it forges (a fake state, an
// event id from the future, another user's order) make the subscriber read
// its order again at most, and it reports only real states, as its user
// reads them.
func TestForgedNotifyIsOnlyARead(t *testing.T) {
	s, owner, _ := newStore(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := pubsub.New(pubsub.DefaultBuffer)
	resynced := make(chan struct{}, 10)
	l := &postgres.Listener{URL: s.apiURL, Log: log, Publish: hub.Publish, Resync: func() { hub.Resync(); resynced <- struct{}{} }}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(lctx) }()
	t.Cleanup(func() { stop(); <-done })
	<-resynced

	alice, bob := uuid.NewString(), uuid.NewString()
	mine, _, _ := create(t, s, "mine", alice, items("1.00"))
	theirs, _, _ := create(t, s, "theirs", bob, items("2.00"))
	if _, err := s.process(ctx, order.EventKey{OrderID: mine.ID}, order.EventKey{OrderID: theirs.ID}); err != nil {
		t.Fatal(err)
	}

	// An eavesdropper: the owner's login LISTENs on the channel too.
	spy, err := pgx.Connect(ctx, owner.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close(ctx)
	if _, err := spy.Exec(ctx, "LISTEN "+postgres.StatusChannel); err != nil {
		t.Fatal(err)
	}

	svc := order.NewService(s.Store, nil, log)
	svc.Changes = hub
	wctx, cancel := context.WithCancel(order.WithPrincipal(ctx, order.Principal{UserID: alice}))
	defer cancel()
	w, err := svc.Watch(wctx, "mine", alice)
	if err != nil {
		t.Fatal(err)
	}
	if o := <-w.C; o.Status != order.StatusDone || o.EventID != 0 {
		t.Fatalf("first state: got %s %d; want DONE 0", o.Status, o.EventID)
	}

	// The forger: the worker's login (any login would do).
	forger, err := pgx.Connect(ctx, s.workerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close(ctx)
	for _, payload := range []string{
		fmt.Sprintf(`{"id":%d,"user_id":%q,"external_id":"mine","status":"PROCESSING","event_id":999}`, mine.ID, alice),
		strconv.FormatInt(mine.ID, 10),
		strconv.FormatInt(theirs.ID, 10),
		"-1", "999999999",
	} {
		if _, err := forger.Exec(ctx, "SELECT pg_notify($1, $2)", postgres.StatusChannel, payload); err != nil {
			t.Fatal(err)
		}
	}
	// The real change: a cancel, applied by the worker.
	appendEvent(t, s, mine, order.Event{Type: order.EventCancel, Reason: "real"})
	if _, err := s.process(ctx, order.EventKey{OrderID: mine.ID, EventID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []order.Status{order.StatusNew, order.StatusProcessing, order.StatusCancelled} {
		select {
		case o := <-w.C:
			if o.Status != want || o.EventID != 1 || o.UserID != alice || o.ID != mine.ID {
				t.Fatalf("got %s %d of order %d (user %s); want %s 1 of alice's order %d", o.Status, o.EventID, o.ID, o.UserID, want, mine.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s state", want)
		}
	}
	select {
	case o := <-w.C:
		t.Errorf("after the cancel: got %s %d; want nothing more", o.Status, o.EventID)
	case <-time.After(200 * time.Millisecond):
	}

	// What the eavesdropper learnt: order ids, nothing about users or states.
	for {
		nctx, ncancel := context.WithTimeout(ctx, 200*time.Millisecond)
		n, err := spy.WaitForNotification(nctx)
		ncancel()
		if err != nil {
			break
		}
		if n.PID == forgerPID(t, forger) {
			continue
		}
		if _, err := strconv.ParseInt(n.Payload, 10, 64); err != nil || strings.Contains(n.Payload, alice) {
			t.Errorf("a listener saw %q; want an order id only", n.Payload)
		}
	}
}

func forgerPID(t *testing.T, c *pgx.Conn) uint32 { return c.PgConn().PID() }
