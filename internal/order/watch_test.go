package order_test

import (
	"context"
	"fmt"
	"strings"
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

// announce changes the stored order with f and announces the change.
func announce(store *fakeStore, hub *pubsub.Hub, o order.Order, f func(*order.Order)) {
	n := store.update(o.ID, f)
	hub.Publish(order.StatusChange{OrderID: n.ID})
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
	want := func(status order.Status, event int, items []order.Item) {
		t.Helper()
		got := next(t, w)
		if got.Status != status || got.EventID != event || !order.SameItems(got.Items, items) {
			t.Fatalf("got %s %d %v; want %s %d %v", got.Status, got.EventID, got.Items, status, event, items)
		}
	}
	announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status = 1, order.StatusNew })
	want(order.StatusNew, 1, pens)
	announce(store, hub, o, func(o *order.Order) { o.Status = order.StatusProcessing })
	want(order.StatusProcessing, 1, pens)
	announce(store, hub, o, func(o *order.Order) {}) // the same state again: nothing
	announce(store, hub, o, func(o *order.Order) { o.Status, o.AppliedEventID, o.Items = order.StatusDone, 1, books })
	want(order.StatusDone, 1, books)
	// Two changes announced before the watcher reads: the read finds the
	// order DONE 2, and the states of event 2 it passed through come first.
	announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status = 2, order.StatusNew })
	announce(store, hub, o, func(o *order.Order) { o.Status, o.AppliedEventID, o.Items = order.StatusDone, 2, pens })
	want(order.StatusNew, 2, books)
	want(order.StatusProcessing, 2, books)
	want(order.StatusDone, 2, pens)
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

// TestWatchIgnoresForgedAnnouncements: an announcement is only a reason to
// read: one for an unchanged order, or one naming another order, sends
// nothing; the real change that follows is reported as read.
func TestWatchIgnoresForgedAnnouncements(t *testing.T) {
	svc, store, hub, o := newWatchService(t)
	w, err := svc.Watch(t.Context(), o.ExternalID, o.UserID)
	if err != nil {
		t.Fatal(err)
	}
	next(t, w)
	for range 5 {
		hub.Publish(order.StatusChange{OrderID: o.ID})     // nothing changed
		hub.Publish(order.StatusChange{OrderID: o.ID + 1}) // someone else's
	}
	announce(store, hub, o, func(o *order.Order) { o.EventID, o.Status, o.CancelledAt = 1, order.StatusCancelled, &t1 })
	for _, s := range []order.Status{order.StatusNew, order.StatusProcessing, order.StatusCancelled} {
		if got := next(t, w); got.Status != s || got.EventID != 1 {
			t.Fatalf("got %s %d; want %s 1 (the real cancel, as read)", got.Status, got.EventID, s)
		}
	}
}

func TestSteps(t *testing.T) {
	at := func(st order.Status, ev int) order.Order { return order.Order{Status: st, EventID: ev} }
	for _, tc := range []struct {
		name      string
		last, now order.Order
		want      string
	}{
		{"Same", at(order.StatusDone, 0), at(order.StatusDone, 0), ""},
		{"Older", at(order.StatusDone, 2), at(order.StatusProcessing, 1), ""},
		{"NextStep", at(order.StatusNew, 0), at(order.StatusProcessing, 0), "PROCESSING0"},
		{"SkipsProcessing", at(order.StatusNew, 0), at(order.StatusDone, 0), "PROCESSING0 DONE0"},
		{"NewEventDone", at(order.StatusDone, 0), at(order.StatusDone, 1), "NEW1 PROCESSING1 DONE1"},
		{"NewEventCancelled", at(order.StatusDone, 1), at(order.StatusCancelled, 3), "NEW3 PROCESSING3 CANCELLED3"},
		{"NewEventProcessing", at(order.StatusDone, 0), at(order.StatusProcessing, 1), "NEW1 PROCESSING1"},
		{"NewEventNew", at(order.StatusDone, 0), at(order.StatusNew, 1), "NEW1"},
		{"FailedWithoutProcessing", at(order.StatusDone, 0), at(order.StatusFailed, 1), "NEW1 FAILED1"},
		{"FailedAfterProcessing", at(order.StatusProcessing, 1), at(order.StatusFailed, 1), "FAILED1"},
	} {
		var got []string
		for _, o := range order.Steps(tc.last, tc.now) {
			got = append(got, fmt.Sprintf("%s%d", o.Status, o.EventID))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, strings.Join(got, " "), tc.want)
		}
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
	for _, s := range []order.Status{order.StatusNew, order.StatusProcessing} {
		if got := next(t, w); got.Status != s || got.EventID != 1 {
			t.Errorf("after a resync: got %s %d; want %s 1", got.Status, got.EventID, s)
		}
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
