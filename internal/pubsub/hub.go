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

type key struct{ userID, externalID string }

type subscriber struct {
	ch     chan order.StatusChange
	closed bool
}

// Hub delivers each published change to the subscribers of its order
// (user id, external id). It implements order.Changes. The zero value is
// not usable: use New.
type Hub struct {
	buffer int
	// OnCount, when set, is called with the number of subscribers after
	// each change of it (for a gauge), under the hub's lock: keep it quick.
	OnCount func(n int)

	mu    sync.Mutex
	subs  map[key]map[*subscriber]struct{}
	count int
}

var _ order.Changes = (*Hub)(nil)

// New returns a Hub whose subscribers each buffer up to buffer changes
// (DefaultBuffer when buffer <= 0).
func New(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: map[key]map[*subscriber]struct{}{}}
}

// Watch implements order.Changes: it subscribes to the changes of one
// order. The channel is closed by stop, or earlier when the subscriber's
// buffer is full as a change comes (it fell behind). stop may be called
// more than once.
func (h *Hub) Watch(userID, externalID string) (<-chan order.StatusChange, func()) {
	k := key{userID, externalID}
	s := &subscriber{ch: make(chan order.StatusChange, h.buffer)}
	h.mu.Lock()
	set := h.subs[k]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[k] = set
	}
	set[s] = struct{}{}
	h.setCount(h.count + 1)
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.drop(k, s)
	}
}

// drop removes s and closes its channel, once. Call it with h.mu held.
func (h *Hub) drop(k key, s *subscriber) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	set := h.subs[k]
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, k)
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
	k := key{c.UserID, c.ExternalID}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[k] {
		h.offer(k, s, c)
	}
}

// Resync tells every subscriber that changes may have been missed (the
// feed lost its connection to the database and is back): each gets a
// change whose Resync method reports true, and reads its order again.
func (h *Hub) Resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, set := range h.subs {
		for s := range set {
			h.offer(k, s, order.StatusChange{UserID: k.userID, ExternalID: k.externalID})
		}
	}
}

func (h *Hub) offer(k key, s *subscriber, c order.StatusChange) {
	select {
	case s.ch <- c:
	default:
		h.drop(k, s) // fell behind: never block the others
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}
