package order

import (
	"context"
	"log/slog"
	"time"
)

// Outbox is where the recovery loop finds accepted events the worker has
// not applied yet.
type Outbox interface {
	// ClaimDueEvents returns up to max unapplied events whose publish is
	// due and postpones their next publish by retry, doubled with each
	// attempt, at most maxBackoff. Concurrent callers never get the same event.
	ClaimDueEvents(ctx context.Context, max int, retry, maxBackoff time.Duration) ([]Event, error)
	// MarkUnpublishable marks the order of ev FAILED with reason, because
	// Kafka refuses ev's message itself: nothing republishes it again.
	MarkUnpublishable(ctx context.Context, ev Event, reason string) error
}

// Publisher sends an event to the worker without waiting for an ACK. It
// returns an EUNAVAILABLE *Error when Kafka cannot be reached (sending it
// later may succeed), and any other error when the message is refused for
// good.
type Publisher interface {
	Publish(ctx context.Context, ev Event) error
}

// Recovery closes the gap between the database commit of an event and its
// publish to Kafka: if the API dies in between, or Kafka is down, the event
// stays unapplied in the outbox and Recovery publishes it again once it is
// due. Every API instance runs one; they share the work through the
// outbox's row locks. The worker applies each event once, so a publish that
// races the original one is harmless.
type Recovery struct {
	Outbox    Outbox
	Publisher Publisher
	Log       *slog.Logger
	// Interval is how often the outbox is checked (default 1 s).
	Interval time.Duration
	// Retry is the delay before an event republished now is due again,
	// doubled with each attempt (default 5 s) up to MaxBackoff (default 30 s):
	// after a long Kafka outage, every pending event is sent again within
	// MaxBackoff of Kafka's return.
	Retry      time.Duration
	MaxBackoff time.Duration
	// Batch is how many events one check claims at most (default 200).
	Batch int
	// Published, when set, is told how many events each check published.
	Published func(n int)
	// Unpublishable, when set, is told of each event given up on.
	Unpublishable func()
}

// Run checks the outbox every Interval until ctx ends.
func (r *Recovery) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultRecoveryInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := r.RunOnce(ctx)
		if n > 0 && r.Published != nil {
			r.Published(n)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			r.Log.Warn("recovery: republish pending events", "republished", n, "err", err)
		case n > 0:
			r.Log.Info("recovery: republished pending events", "orders", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce publishes the due events, one message per order (the worker
// applies all of an order's pending events on any of them), and returns how
// many messages it published. When Kafka is unavailable it stops: the
// events stay due and are retried later. An event whose message Kafka
// refuses for good is marked (its order FAILED) and skipped, so that it
// delays nobody else's.
func (r *Recovery) RunOnce(ctx context.Context) (int, error) {
	batch, retry, maxBackoff := r.Batch, r.Retry, r.MaxBackoff
	if batch <= 0 {
		batch = DefaultRecoveryBatch
	}
	if retry <= 0 {
		retry = DefaultRecoveryDelay
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultRecoveryMaxBackoff
	}
	published := 0
	for {
		evs, err := r.Outbox.ClaimDueEvents(ctx, batch, retry, maxBackoff)
		if err != nil {
			return published, err
		}
		latest := map[int64]Event{}
		for _, ev := range evs {
			if cur, ok := latest[ev.OrderID]; !ok || ev.EventID > cur.EventID {
				latest[ev.OrderID] = ev
			}
		}
		for _, ev := range latest {
			err := r.Publisher.Publish(ctx, ev)
			switch {
			case err == nil:
				published++
			case ctx.Err() != nil || ErrorCode(err) == EUNAVAILABLE:
				return published, err // the events stay due: retried later
			default:
				r.Log.Error("recovery: Kafka refuses the event's message, marking its order FAILED",
					"order_id", ev.OrderID, "event_id", ev.EventID, "err", err)
				reason := "the event could not be sent to the worker: " + ErrorMessage(err)
				if err := r.Outbox.MarkUnpublishable(ctx, ev, reason); err != nil {
					r.Log.Warn("recovery: mark an unpublishable event", "order_id", ev.OrderID, "event_id", ev.EventID, "err", err)
					continue // still due: tried again after its backoff
				}
				if r.Unpublishable != nil {
					r.Unpublishable()
				}
			}
		}
		if len(evs) < batch {
			return published, nil
		}
	}
}
