package pubsub_test

import (
	"testing"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pubsub"
)

func change(user, ext string, st order.Status, ev int) order.StatusChange {
	return order.StatusChange{OrderID: 1, UserID: user, ExternalID: ext, Status: st, EventID: ev}
}

func TestFanOut(t *testing.T) {
	h := pubsub.New(4)
	a, stopA := h.Watch("u1", "o1")
	b, stopB := h.Watch("u1", "o1")
	other, stopOther := h.Watch("u2", "o1") // same external id, another user
	defer stopA()
	defer stopB()
	defer stopOther()

	h.Publish(change("u1", "o1", order.StatusProcessing, 0))
	h.Publish(change("u1", "o1", order.StatusDone, 0))
	for name, ch := range map[string]<-chan order.StatusChange{"a": a, "b": b} {
		for _, want := range []order.Status{order.StatusProcessing, order.StatusDone} {
			if got := <-ch; got.Status != want || got.UserID != "u1" {
				t.Errorf("%s: got %+v; want %s of u1", name, got, want)
			}
		}
	}
	select {
	case c := <-other:
		t.Errorf("another user's subscriber got %+v; want nothing", c)
	default:
	}
}

func TestSlowConsumerDoesNotBlock(t *testing.T) {
	h := pubsub.New(2)
	slow, stopSlow := h.Watch("u", "o")
	fast, stopFast := h.Watch("u", "o")
	defer stopSlow()
	defer stopFast()
	for i := range 10 {
		h.Publish(change("u", "o", order.StatusNew, i)) // would block here if the hub waited for slow
		if got := <-fast; got.EventID != i {
			t.Fatalf("fast subscriber: got event %d; want %d", got.EventID, i)
		}
	}
	// slow read nothing: it got what fitted its buffer, then was dropped.
	var got []int
	for c := range slow {
		got = append(got, c.EventID)
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("slow subscriber got events %v, then its channel closed; want [0 1]", got)
	}
	if n := h.Len(); n != 1 {
		t.Errorf("Len after dropping the slow subscriber: got %d; want 1", n)
	}
	stopSlow() // after being dropped: no panic, no double count
	if n := h.Len(); n != 1 {
		t.Errorf("Len: got %d; want 1", n)
	}
}

func TestStopCleansUp(t *testing.T) {
	h := pubsub.New(1)
	var counts []int
	h.OnCount = func(n int) { counts = append(counts, n) }
	ch, stop := h.Watch("u", "o")
	stop()
	stop()
	if _, ok := <-ch; ok {
		t.Error("channel still open after stop")
	}
	h.Publish(change("u", "o", order.StatusDone, 0)) // nobody left: nothing to send, no panic
	if n := h.Len(); n != 0 {
		t.Errorf("Len: got %d; want 0", n)
	}
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 0 {
		t.Errorf("OnCount calls: got %v; want [1 0]", counts)
	}
}

func TestResync(t *testing.T) {
	h := pubsub.New(1)
	a, stopA := h.Watch("u", "a")
	b, stopB := h.Watch("v", "b")
	defer stopA()
	defer stopB()
	h.Resync()
	for _, ch := range []<-chan order.StatusChange{a, b} {
		if c := <-ch; !c.Resync() {
			t.Errorf("got %+v; want a resync note", c)
		}
	}
	h.Publish(change("u", "a", order.StatusDone, 0))
	h.Publish(change("u", "a", order.StatusDone, 1)) // buffer of 1 full: dropped
	if c := <-a; c.Resync() || c.EventID != 0 {
		t.Errorf("got %+v; want the first change", c)
	}
	if _, ok := <-a; ok {
		t.Error("an overflowing subscriber's channel is still open")
	}
}
