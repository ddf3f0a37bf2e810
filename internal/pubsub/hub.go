// Package pubsub fans out order status changes, in memory, to the
// subscriptions of one API instance. It never blocks the publisher: each
// subscriber has a small buffer, and one that falls behind is dropped
// (its channel closed) instead of slowing the others.
package pubsub

import (
	"sync"

	"github.com/orderstream/orderstream/internal/order"
)

// DefaultBuffer is the default channel buffer of one subscriber.
const DefaultBuffer = 16

type subscriber struct {
	ch     chan order.StatusChange
	closed bool
}

// Hub delivers each published change to the subscribers of its order id.
// It implements order.Changes. The zero value is not usable: use New.
type Hub struct {
	buffer int
	// OnCount, when set, is called with the number of subscribers after
	// each change of it (for a gauge), under the hub's lock: keep it quick.
	OnCount func(n int)

	mu    sync.Mutex
	subs  map[int64]map[*subscriber]struct{}
	count int
}

var _ order.Changes = (*Hub)(nil)

// New returns a Hub whose subscribers each buffer up to buffer changes
// (DefaultBuffer when buffer <= 0).
func New(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: map[int64]map[*subscriber]struct{}{}}
}

// Watch implements order.Changes: it subscribes to the changes of one
// order. The channel is closed by stop, or earlier when the subscriber's
// buffer is full as a change comes (it fell behind). stop may be called
// more than once.
func (h *Hub) Watch(orderID int64) (<-chan order.StatusChange, func()) {
	s := &subscriber{ch: make(chan order.StatusChange, h.buffer)}
	h.mu.Lock()
	set := h.subs[orderID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[orderID] = set
	}
	set[s] = struct{}{}
	h.setCount(h.count + 1)
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.drop(orderID, s)
	}
}

// drop removes s and closes its channel, once. Call it with h.mu held.
func (h *Hub) drop(id int64, s *subscriber) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	set := h.subs[id]
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, id)
	}
	h.setCount(h.count - 1)
}

func (h *Hub) setCount(n int) {
	h.count = n
	if h.OnCount != nil {
		h.OnCount(n)
	}
}

// Publish hands c to the subscribers of its order without waiting: a
// subscriber whose buffer is full is dropped.
func (h *Hub) Publish(c order.StatusChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[c.OrderID] {
		h.offer(c.OrderID, s, c)
	}
}

// Resync tells every subscriber that changes may have been missed (the
// feed lost its connection to the database and is back): each gets a
// change with Resync set, and reads its order again.
func (h *Hub) Resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, set := range h.subs {
		for s := range set {
			h.offer(id, s, order.StatusChange{OrderID: id, Resync: true})
		}
	}
}

func (h *Hub) offer(id int64, s *subscriber, c order.StatusChange) {
	select {
	case s.ch <- c:
	default:
		h.drop(id, s) // fell behind: never block the others
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}
