package order_test

import (
	"context"
	"testing"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pubsub"
)

func newWatchService(t *testing.T) (*order.Service, *fakeStore, *pubsub.Hub, order.Order) {
	t.Helper()
	svc, store, _ := newTestService(t)
	hub := pubsub.New(16)
	svc.Changes = hub
	return svc, store, hub, mustCreate(t, svc, "w-1", pens)
}

// announce changes the stored order with f and publishes the change.
func announce(store *fakeStore, hub *pubsub.Hub, o order.Order, f func(*order.Order)) {
	n := store.update(o.ID, f)
	hub.Publish(order.StatusChange{OrderID: n.ID, UserID: n.UserID, ExternalID: n.ExternalID, Status: n.Status, EventID: n.EventID, UpdatedAt: n.UpdatedAt})
}

func next(t *testing.T, w *order.Watcher) order.Order {
	t.Helper()
	o, ok := <-w.C
	if !ok {
		t.Fatalf("watch ended early: %v", w.Err())
	}
	return o
}

func TestWatchCurrentThenChanges(t *testing.T) {
	svc, store, hub, o := newWatchService(t)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := svc.Watch(ctx, o.ExternalID, o.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, w); got.Status != order.StatusDone || got.EventID != 0 {
		t.Fatalf("first state: got %s %d; want the current one, DONE 0", got.Status, got.EventID)
	}
	announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status = 1, order.StatusNew })
	announce(store, hub, o, func(o *order.Order) { o.Status = order.StatusProcessing })
	announce(store, hub, o, func(o *order.Order) {}) // the same state again: suppressed
	announce(store, hub, o, func(o *order.Order) { o.Status, o.AppliedEventID, o.Items = order.StatusDone, 1, books })
	hub.Publish(order.StatusChange{UserID: o.UserID, ExternalID: o.ExternalID, Status: order.StatusDone, EventID: 0}) // late: suppressed
	announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status = 2, order.StatusNew })
	for _, want := range []struct {
		status order.Status
		event  int
		items  []order.Item
	}{{order.StatusNew, 1, pens}, {order.StatusProcessing, 1, pens}, {order.StatusDone, 1, books}, {order.StatusNew, 2, books}} {
		got := next(t, w)
		if got.Status != want.status || got.EventID != want.event || !order.SameItems(got.Items, want.items) {
			t.Fatalf("got %s %d %v; want %s %d %v", got.Status, got.EventID, got.Items, want.status, want.event, want.items)
		}
	}
	if n := hub.Len(); n != 1 {
		t.Errorf("hub subscribers while watching: got %d; want 1", n)
	}
	cancel()
	for range w.C {
	}
	if err := w.Err(); err != nil {
		t.Errorf("Err after ctx ended: got %v; want nil", err)
	}
	if n := hub.Len(); n != 0 {
		t.Errorf("hub subscribers after the watch ended: got %d; want 0", n)
	}
}

func TestWatchNotFound(t *testing.T) {
	svc, _, hub, o := newWatchService(t)
	other := order.WithPrincipal(t.Context(), order.Principal{UserID: "00000000-0000-0000-0000-000000000001"})
	_, err := svc.Watch(other, o.ExternalID, o.UserID)
	wantCode(t, err, order.ENOTFOUND)
	_, err = svc.Watch(t.Context(), "missing", o.UserID)
	wantCode(t, err, order.ENOTFOUND)
	if n := hub.Len(); n != 0 {
		t.Errorf("hub subscribers after refused watches: got %d; want 0", n)
	}
}

func TestWatchResync(t *testing.T) {
	svc, store, hub, o := newWatchService(t)
	w, err := svc.Watch(t.Context(), o.ExternalID, o.UserID)
	if err != nil {
		t.Fatal(err)
	}
	next(t, w)
	store.update(o.ID, func(o *order.Order) { o.EventID, o.Status = 1, order.StatusProcessing }) // announced while the feed was down
	hub.Resync()
	if got := next(t, w); got.Status != order.StatusProcessing || got.EventID != 1 {
		t.Errorf("after a resync: got %s %d; want PROCESSING 1", got.Status, got.EventID)
	}
}

// A reader that does not keep up gets fewer states, in order, ending with
// the latest; the feed is never blocked.
func TestWatchSlowReaderCoalesces(t *testing.T) {
	svc, store, hub, o := newWatchService(t)
	w, err := svc.Watch(t.Context(), o.ExternalID, o.UserID)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 1; i <= n; i++ {
		announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status = i, order.StatusNew })
	}
	last, count := -1, 0
	for last != n {
		got := next(t, w)
		if got.EventID <= last {
			t.Fatalf("got event %d after %d; want increasing", got.EventID, last)
		}
		last, count = got.EventID, count+1
	}
	if count > n {
		t.Errorf("got %d states for %d changes", count, n)
	}
}
