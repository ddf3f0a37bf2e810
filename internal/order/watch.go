package order

import "context"

// StatusChange is the announcement that an order's status changed (a
// PostgreSQL NOTIFY): only which order. It is a hint, never the state: any
// database login can send one, and listen to them, so it carries nothing
// else, and the watcher reads the order (as the subscriber's user, under
// row-level security) before it tells anyone anything.
type StatusChange struct {
	OrderID int64
	// Resync is set when changes may have been missed (the feed's
	// connection to the database was lost and is back): every watcher
	// reads its order again.
	Resync bool
}

// Changes is the feed of status changes that Watch follows.
type Changes interface {
	// Watch subscribes to the changes of the order with that id. It never
	// blocks the feed: a subscriber that falls behind has its channel
	// closed (before stop is called), and then re-subscribes and reads the
	// order again. stop ends the subscription.
	Watch(orderID int64) (changes <-chan StatusChange, stop func())
}

// watchBuffer is how many states a watch holds for a slow reader before it
// coalesces them (keeps only the latest).
const watchBuffer = 8

// Watch follows the user's order: the Watcher's channel yields its current
// state first, then each later state, in order and without duplicates,
// until ctx ends; then it is closed. Every state comes from a read of the
// order as the caller's user (a change announcement only triggers the
// read), so a forged announcement causes at most a read. Each event goes
// NEW, PROCESSING, then DONE, CANCELLED or FAILED: when a read finds the
// order further along than the last state sent, the states it passed
// through for its latest event are sent first (NEW and PROCESSING keep the
// items applied so far; items and totals change with the final state). A
// reader that does not keep up, or changes that come faster than the reads,
// get the states coalesced: it always ends up with the latest. The channel
// also closes when the order can no longer be read; then Err says why.
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
	first, err := s.read(ctx, externalID, uid)
	if err != nil {
		return nil, err
	}
	// Subscribe, then read again, so that no change falls between the two.
	changes, stop := s.Changes.Watch(first.ID)
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
	last := cur           // the latest state known
	queue := []Order{cur} // the states not sent yet, oldest first
	for {
		var send chan<- Order
		var next Order
		if len(queue) > 0 {
			send, next = out, queue[0]
		}
		select {
		case <-ctx.Done():
			return nil
		case send <- next:
			queue = queue[1:]
		case _, ok := <-changes:
			if !ok { // fell behind: subscribe again, then read
				(*stop)()
				changes, *stop = s.Changes.Watch(cur.ID)
			}
			o, err := s.read(ctx, externalID, userID)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn("watch: read order", "external_id", externalID, "err", err)
				return err
			}
			steps := Steps(last, o)
			if len(steps) == 0 {
				continue
			}
			last = steps[len(steps)-1]
			queue = append(queue, steps...)
			if len(queue) > watchBuffer {
				// The reader does not keep up: keep only the latest.
				queue = append(queue[:0], last)
			}
		}
	}
}

// Steps returns the states from last (excluded) to o, the order as read
// now: nothing when o is not newer; else, for o's event, the states it
// passes through before o (NEW, PROCESSING) that last has not reached,
// with last's items (they are not applied yet), then o.
func Steps(last, o Order) []Order {
	if !newer(last, o) {
		return nil
	}
	from := last
	if o.EventID > last.EventID {
		from.Status = "" // a new event: none of its states sent yet
	}
	var steps []Order
	for _, st := range []Status{StatusNew, StatusProcessing} {
		if rank(st) > rankOf(from) && rank(st) < rank(o.Status) && (st == StatusNew || o.Status != StatusFailed) {
			step := last
			step.EventID, step.Status, step.UpdatedAt = o.EventID, st, o.UpdatedAt
			steps = append(steps, step)
		}
	}
	return append(steps, o)
}

// rankOf is rank of o's status, -1 for none (a new event not seen yet).
func rankOf(o Order) int {
	if o.Status == "" {
		return -1
	}
	return rank(o.Status)
}
