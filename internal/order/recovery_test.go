package order_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

type fakeOutbox struct {
	due    []order.Event
	failed map[int64]string
}

func (o *fakeOutbox) ClaimDueEvents(_ context.Context, limit int, _, _ time.Duration) ([]order.Event, error) {
	n := min(limit, len(o.due))
	evs := o.due[:n]
	o.due = o.due[n:]
	return evs, nil
}

func (o *fakeOutbox) MarkUnpublishable(_ context.Context, ev order.Event, reason string) error {
	o.failed[ev.OrderID] = reason
	return nil
}

type publishFunc func(ctx context.Context, ev order.Event) error

func (f publishFunc) Publish(ctx context.Context, ev order.Event) error { return f(ctx, ev) }

// TestRecoverySkipsUnpublishableEvents: an event Kafka refuses for good is
// marked and skipped, and the others of the batch are still published; an
// unavailable Kafka stops the run (everything stays due).
func TestRecoverySkipsUnpublishableEvents(t *testing.T) {
	var evs []order.Event
	for id := int64(1); id <= 5; id++ {
		evs = append(evs, order.Event{OrderID: id})
	}
	box := &fakeOutbox{due: evs, failed: map[int64]string{}}
	var published []int64
	r := &order.Recovery{Outbox: box, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Batch: 10,
		Publisher: publishFunc(func(_ context.Context, ev order.Event) error {
			if ev.OrderID == 2 || ev.OrderID == 4 {
				return &order.Error{Code: order.EPROCESSING, Message: "message too large"}
			}
			published = append(published, ev.OrderID)
			return nil
		})}
	n, err := r.RunOnce(t.Context())
	if err != nil || n != 3 || len(published) != 3 {
		t.Fatalf("got %d published (%v), %v; want the 3 others published", n, published, err)
	}
	if len(box.failed) != 2 || box.failed[2] == "" || box.failed[4] == "" {
		t.Errorf("marked %v; want orders 2 and 4 with a reason", box.failed)
	}

	box = &fakeOutbox{due: evs, failed: map[int64]string{}}
	calls := 0
	r.Outbox = box
	r.Publisher = publishFunc(func(context.Context, order.Event) error {
		calls++
		return order.Unavailable("Kafka", errors.New("no brokers"))
	})
	if _, err := r.RunOnce(t.Context()); order.ErrorCode(err) != order.EUNAVAILABLE || calls != 1 || len(box.failed) != 0 {
		t.Errorf("Kafka down: got %v after %d publishes, marked %v; want UNAVAILABLE after 1, nothing marked", err, calls, box.failed)
	}
}
