package order

import (
	"context"
	"fmt"
	"time"
)

// EventKey names one event of an order: what a message on the orders
// topic announces. The worker never trusts a message for more than that:
// what an event does is read from the store.
type EventKey struct {
	OrderID int64
	EventID int
}

// Pending is an order the worker has locked, with its accepted events that
// are not applied yet, in event id order.
type Pending struct {
	Order  Order
	Events []Event
}

// Applied is the outcome of one event.
type Applied struct {
	Key     EventKey
	Outcome Outcome
}

// Plan is what the worker decided for a batch, for the store to save.
type Plan struct {
	// Orders are the new states of the orders whose events are applied
	// now, in id order.
	Orders []Order
	// Applied are the outcomes of the events applied now.
	Applied []Applied
	// Recall are events applied before this batch: their messages are
	// redeliveries, answered with the stored outcome.
	Recall []EventKey
}

// Saved is what the store returns once a Plan is committed.
type Saved struct {
	// Orders are the orders of Plan.Orders as stored.
	Orders []Order
	// Recalled are the stored outcomes of Plan.Recall (an event the store
	// does not have is missing).
	Recalled []Applied
}

// BatchStore is what the worker's use case needs from the database.
type BatchStore interface {
	// ProcessBatch marks the orders of keys PROCESSING (a commit of its own:
	// clients see that the worker picked them up), then, in one
	// transaction, locks the orders (in id order, so that concurrent
	// batches cannot deadlock), calls plan with each order that exists and
	// its pending events, saves what plan returns, reads the outcomes it
	// recalls, and commits, announcing every status change. plan's error
	// rolls the transaction back and is returned. Errors: EUNAVAILABLE when
	// the database cannot be reached.
	ProcessBatch(ctx context.Context, keys []EventKey, plan func([]Pending) (Plan, error)) (Saved, error)
	// MarkFailed marks an order FAILED with reason after one of its
	// messages was dead-lettered; it changes nothing once every event of
	// the order is applied.
	MarkFailed(ctx context.Context, orderID int64, reason string) error
}

// Answer is what the worker does with one message once its batch is
// committed: Ack goes to the request that waits for it, if any. When
// DeadLetter is set, the message names an order or event that does not
// exist: it goes to the dead-letter topic with that reason too.
type Answer struct {
	Ack        Ack
	DeadLetter string
}

// Processor is the worker's use case: for a batch of messages, it applies
// every pending event of their orders, in event id order, each exactly
// once, and answers each message with the outcome of its own event.
type Processor struct {
	Store BatchStore
	// Now is the clock of applied changes (nil: time.Now).
	Now func() time.Time
}

// Process applies the events that keys announce and returns the answer to
// each key, in order. A redelivered message (its event applied before) is
// answered with the stored outcome and Duplicate set; the message of an
// unknown order, or of an event that was never accepted, is a NACK to be
// dead-lettered. Errors: those of the store, and nothing is applied then.
func (p *Processor) Process(ctx context.Context, keys []EventKey) ([]Answer, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	var (
		locked map[int64]Order
		plan   Plan
	)
	saved, err := p.Store.ProcessBatch(ctx, keys, func(pending []Pending) (Plan, error) {
		locked = make(map[int64]Order, len(pending))
		for _, pe := range pending {
			locked[pe.Order.ID] = pe.Order
		}
		plan = PlanBatch(keys, pending, now())
		return plan, nil
	})
	if err != nil {
		return nil, err
	}
	return Answers(keys, locked, plan, saved), nil
}

// MarkFailed marks an order FAILED with reason, once its message was
// dead-lettered because its events keep failing.
func (p *Processor) MarkFailed(ctx context.Context, orderID int64, reason string) error {
	return p.Store.MarkFailed(ctx, orderID, reason)
}

// PlanBatch applies the pending events of each order (Apply, in event id
// order) and lists the keys whose events were applied before the batch.
func PlanBatch(keys []EventKey, pending []Pending, now time.Time) Plan {
	var plan Plan
	byID := make(map[int64]Order, len(pending))
	for _, pe := range pending {
		o := pe.Order
		byID[o.ID] = o
		for _, ev := range pe.Events {
			var out Outcome
			o, out = Apply(o, ev, now)
			plan.Applied = append(plan.Applied, Applied{Key: EventKey{o.ID, ev.EventID}, Outcome: out})
		}
		if len(pe.Events) > 0 {
			plan.Orders = append(plan.Orders, o)
		}
	}
	seen := make(map[EventKey]bool, len(keys))
	for _, k := range keys {
		if o, ok := byID[k.OrderID]; ok && k.EventID >= 0 && k.EventID <= o.AppliedEventID && !seen[k] {
			seen[k] = true
			plan.Recall = append(plan.Recall, k)
		}
	}
	return plan
}

// Answers builds the answer to each key from the orders as locked (their
// state before the batch), the plan and what the store saved.
func Answers(keys []EventKey, locked map[int64]Order, plan Plan, saved Saved) []Answer {
	outcomes := make(map[EventKey]Outcome, len(plan.Applied)+len(saved.Recalled))
	for _, a := range plan.Applied {
		outcomes[a.Key] = a.Outcome
	}
	for _, a := range saved.Recalled {
		outcomes[a.Key] = a.Outcome
	}
	after := make(map[int64]Order, len(saved.Orders))
	for _, o := range saved.Orders {
		after[o.ID] = o
	}
	answers := make([]Answer, len(keys))
	for i, k := range keys {
		a := Answer{Ack: Ack{OrderID: k.OrderID, EventID: k.EventID}}
		before, ok := locked[k.OrderID]
		o, changed := after[k.OrderID]
		if !changed {
			o = before
		}
		switch {
		case !ok:
			a.DeadLetter = fmt.Sprintf("order %d does not exist", k.OrderID)
		case k.EventID < 0 || k.EventID > o.EventID:
			a.DeadLetter = fmt.Sprintf("event %d of order %d was never accepted (the order is at event %d)", k.EventID, k.OrderID, o.EventID)
			a.Ack.Order = o
		default:
			a.Ack.Order = o
			out, found := outcomes[k]
			if !found {
				a.DeadLetter = fmt.Sprintf("event %d of order %d is missing from the store", k.EventID, k.OrderID)
				break
			}
			a.Ack.Outcome, a.Ack.Duplicate = out, k.EventID <= before.AppliedEventID
		}
		if a.DeadLetter != "" {
			a.Ack.Outcome = Outcome{Code: EPROCESSING, Reason: a.DeadLetter}
		}
		answers[i] = a
	}
	return answers
}
