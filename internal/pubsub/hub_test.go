package pubsub_test

import (
	"testing"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pubsub"
)

func change(id int64) order.StatusChange { return order.StatusChange{OrderID: id} }

func TestFanOut(t *testing.T) {
	h := pubsub.New(4)
	a, stopA := h.Watch(1)
	b, stopB := h.Watch(1)
	other, stopOther := h.Watch(2)
	defer stopA()
	defer stopB()
	defer stopOther()

	h.Publish(change(1))
	h.Publish(change(1))
	for name, ch := range map[string]<-chan order.StatusChange{"a": a, "b": b} {
		for range 2 {
			if got := <-ch; got.OrderID != 1 || got.Resync {
				t.Errorf("%s: got %+v; want a change of order 1", name, got)
			}
		}
	}
	select {
	case c := <-other:
		t.Errorf("another order's subscriber got %+v; want nothing", c)
	default:
	}
}

func TestSlowConsumerDoesNotBlock(t *testing.T) {
	h := pubsub.New(2)
	slow, stopSlow := h.Watch(7)
	fast, stopFast := h.Watch(7)
	defer stopSlow()
	defer stopFast()
	for range 10 {
		h.Publish(change(7)) // would block here if the hub waited for slow
		if got := <-fast; got.OrderID != 7 {
			t.Fatalf("fast subscriber: got %+v; want order 7", got)
		}
	}
	// slow read nothing: it got what fitted its buffer, then was dropped.
	n := 0
	for range slow {
		n++
	}
	if n != 2 {
		t.Errorf("slow subscriber got %d changes, then its channel closed; want 2", n)
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
	ch, stop := h.Watch(3)
	stop()
	stop()
	if _, ok := <-ch; ok {
		t.Error("channel still open after stop")
	}
	h.Publish(change(3)) // nobody left: nothing to send, no panic
	if n := h.Len(); n != 0 {
		t.Errorf("Len: got %d; want 0", n)
	}
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 0 {
		t.Errorf("OnCount calls: got %v; want [1 0]", counts)
	}
}

func TestResync(t *testing.T) {
	h := pubsub.New(1)
	a, stopA := h.Watch(1)
	b, stopB := h.Watch(2)
	defer stopA()
	defer stopB()
	h.Resync()
	for id, ch := range []<-chan order.StatusChange{a, b} {
		if c := <-ch; !c.Resync || c.OrderID != int64(id+1) {
			t.Errorf("got %+v; want a resync note for order %d", c, id+1)
		}
	}
	h.Publish(change(1))
	h.Publish(change(1)) // buffer of 1 full: dropped
	if c := <-a; c.Resync || c.OrderID != 1 {
		t.Errorf("got %+v; want the first change", c)
	}
	if _, ok := <-a; ok {
		t.Error("an overflowing subscriber's channel is still open")
	}
}
