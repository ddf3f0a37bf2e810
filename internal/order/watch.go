package order

import (
	"context"
	"time"
)

// StatusChange is a committed change of an order's status, as announced to
// the API instances (PostgreSQL NOTIFY): small, without the items.
type StatusChange struct {
	OrderID    int64
	UserID     string
	ExternalID string
	Status     Status
	EventID    int
	UpdatedAt  time.Time
}

// Resync reports whether c is not a change but the feed's note that changes
// may have been missed (its connection to the database was lost and is
// back): the watcher reads the order again.
func (c StatusChange) Resync() bool { return c.Status == "" }

// Changes is the feed of committed status changes that Watch follows.
type Changes interface {
	// Watch subscribes to the changes of the user's order with that external
	// id. It never blocks the feed: a subscriber that falls behind has its
	// channel closed (before stop is called), and then re-subscribes and
	// reads the order again. stop ends the subscription.
	Watch(userID, externalID string) (changes <-chan StatusChange, stop func())
}

// watchBuffer is how many states a watch holds for a slow reader before it
// coalesces them (keeps only the latest).
const watchBuffer = 8

// Watch follows the user's order: the Watcher's channel yields its current
// state first, then its state after each committed status change (NEW,
// PROCESSING, DONE, CANCELLED, FAILED), in order and without duplicates,
// until ctx ends; then it is closed. On a change the status, eventId and
// updatedAt are those of the change; items and totals are read when the
// worker has applied an event. A reader that does not keep up gets the
// states coalesced: it always ends up with the latest. The channel also
// closes when the order can no longer be read; then Err says why.
// Errors: EINVALID, ENOTFOUND (also another user's order), EUNAVAILABLE.
func (s *Service) Watch(ctx context.Context, externalID, userID string) (*Watcher, error) {
	uid, err := ValidateKey(externalID, userID)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeOrder(ctx, externalID, uid); err != nil {
		return nil, err
	}
	if s.Changes == nil {
		return nil, Errorf(EUNAVAILABLE, "subscriptions are not available")
	}
	// Subscribe before reading, so that no change falls between the two.
	changes, stop := s.Changes.Watch(uid, externalID)
	cur, err := s.read(ctx, externalID, uid)
	if err != nil {
		stop()
		return nil, err
	}
	out := make(chan Order, watchBuffer)
	w := &Watcher{C: out, done: make(chan struct{})}
	go func() {
		defer func() { stop(); close(out); close(w.done) }()
		w.err = s.follow(ctx, cur, externalID, uid, changes, &stop, out)
	}()
	return w, nil
}

// Watcher is a running Watch.
type Watcher struct {
	// C yields the order's states; it is closed when the watch ends.
	C    <-chan Order
	err  error
	done chan struct{}
}

// Err returns why the watch ended early (EUNAVAILABLE, ENOTFOUND) once C
// is closed; nil when ctx ended.
func (w *Watcher) Err() error {
	<-w.done
	return w.err
}

// rank orders the statuses within one event.
func rank(st Status) int {
	switch st {
	case StatusNew:
		return 0
	case StatusProcessing:
		return 1
	default:
		return 2
	}
}

// newer reports whether state b (event, status) comes after state a.
func newer(a, b Order) bool {
	if b.EventID != a.EventID {
		return b.EventID > a.EventID
	}
	return rank(b.Status) > rank(a.Status)
}

func (s *Service) read(ctx context.Context, externalID, userID string) (Order, error) {
	rctx, cancel := context.WithTimeout(ctx, s.WriteTimeout)
	defer cancel()
	return s.store.OrderByExternalID(rctx, externalID, userID)
}

// follow sends cur, then each newer state, to out until ctx ends. When out
// is full it keeps only the latest unsent state.
func (s *Service) follow(ctx context.Context, cur Order, externalID, userID string, changes <-chan StatusChange,
	stop *func(), out chan<- Order) error {
	last := cur               // the latest state known
	pending, has := cur, true // the latest state not sent yet
	for {
		var send chan<- Order
		if has {
			send = out
			select { // sending comes first: coalesce only when out is full
			case out <- pending:
				has = false
				continue
			default:
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case send <- pending:
			has = false
		case c, ok := <-changes:
			next := last
			switch {
			case !ok || c.Resync():
				if !ok { // fell behind: subscribe again, then read
					(*stop)()
					changes, *stop = s.Changes.Watch(userID, externalID)
				}
				o, err := s.read(ctx, externalID, userID)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					s.log.Warn("watch: read order", "external_id", externalID, "err", err)
					return err
				}
				next = o
			case c.Status == StatusNew || c.Status == StatusProcessing:
				next.Status, next.EventID, next.UpdatedAt = c.Status, c.EventID, c.UpdatedAt
			default: // an applied event: items, totals and reasons changed
				o, err := s.read(ctx, externalID, userID)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					s.log.Warn("watch: read order", "external_id", externalID, "err", err)
					return err
				}
				// Report the change itself, even when the state read is later
				// already: the later changes follow.
				o.Status, o.EventID, o.UpdatedAt = c.Status, c.EventID, c.UpdatedAt
				next = o
			}
			if newer(last, next) {
				last, pending, has = next, next, true
			}
		}
	}
}
