package order

import (
	"context"
	"encoding/json"
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

// Create is a create the worker planned from its message alone, before
// reading the order: what applying event 0 gives when the order is as its
// message says (see CreateStore). Its outcome is a success: PlanCreates
// plans no other.
type Create struct {
	// Items is the items' JSON the message carried: the store applies the
	// create only when the order's items and event 0's equal it.
	Items []byte
	// Order is the order's planned state.
	Order Order
}

// CreateStore is a BatchStore that also applies creates planned from their
// messages, in one round trip instead of ProcessBatch's read, plan and save.
type CreateStore interface {
	BatchStore
	// ApplyCreates marks the orders of keys PROCESSING as ProcessBatch
	// does, then applies, in one transaction that announces each change,
	// each create whose order is exactly as planned: event 0 is a create
	// and the only accepted event, none is applied, the order is not
	// cancelled, and its items and event 0's equal Create.Items. It
	// returns the orders it applied, as stored, in id order; it leaves the
	// others untouched. Errors: EUNAVAILABLE when the database cannot be
	// reached; on any error the creates may or may not be applied.
	ApplyCreates(ctx context.Context, keys []EventKey, creates []Create) ([]Order, error)
}

// PlanCreates plans, from their messages alone, the creates among keys that
// the store may apply in one round trip: event 0 of an order whose message
// carries its items (hints[i], nil for none), applied as Apply applies it to
// a new order, and only those that succeed. A create whose items are not
// valid, and every other key, is left to the general path, which reads the
// order first.
func PlanCreates(keys []EventKey, hints [][]byte, now time.Time) []Create {
	var creates []Create
	seen := make(map[int64]bool)
	for i, k := range keys {
		if k.EventID != 0 || i >= len(hints) || hints[i] == nil || seen[k.OrderID] {
			continue
		}
		seen[k.OrderID] = true
		var items []Item
		if err := json.Unmarshal(hints[i], &items); err != nil {
			continue
		}
		o, out := Apply(Order{ID: k.OrderID, Status: StatusNew, AppliedEventID: -1, LastEventType: EventCreate},
			Event{OrderID: k.OrderID, EventID: 0, Type: EventCreate, Items: items}, now)
		if !out.OK {
			continue
		}
		creates = append(creates, Create{Items: hints[i], Order: o})
	}
	return creates
}

// Answer is what the worker does with one message once its batch is
// committed: Ack goes to the request that waits for it, if any. When
// DeadLetter is set, the message names an order or event that does not
// exist: it goes to the dead-letter topic with that reason too.
type Answer struct {
	Ack        Ack
	DeadLetter string
	// FromMessage: the event is a create planned from its message's items
	// and applied in one round trip (CreateStore).
	FromMessage bool
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
// dead-lettered. hints[i], when not nil, is the items' JSON the message of
// keys[i] carried: with a CreateStore, a batch of creates that can all be
// planned from them (PlanCreates) is applied in one round trip, and the
// creates whose stored order did not match take the general path after it.
// A batch with anything else takes the general path whole, so that it
// costs two round trips, not three. Errors: those of the store; the batch
// may then be applied in part, and its messages are processed again.
func (p *Processor) Process(ctx context.Context, keys []EventKey, hints [][]byte) ([]Answer, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	var (
		answers []Answer
		restAt  []int // the indexes of the keys left to the general path, when answers is set
	)
	rest := keys
	if cs, ok := p.Store.(CreateStore); ok {
		if creates := PlanCreates(keys, hints, now()); plansAll(keys, creates) {
			applied, err := cs.ApplyCreates(ctx, keys, creates)
			if ErrorCode(err) == EUNAVAILABLE {
				return nil, err
			}
			if err == nil { // otherwise the general path reads what was applied
				answers, restAt = answerCreates(keys, applied)
				rest = make([]EventKey, len(restAt))
				for j, i := range restAt {
					rest[j] = keys[i]
				}
			}
		}
	}
	if len(rest) == 0 {
		return answers, nil
	}
	general, err := p.process(ctx, rest, now)
	if err != nil {
		return nil, err
	}
	if answers == nil {
		return general, nil
	}
	for j, i := range restAt {
		answers[i] = general[j]
	}
	return answers, nil
}

// plansAll reports whether creates plan every key: each is event 0 of an
// order that creates holds.
func plansAll(keys []EventKey, creates []Create) bool {
	if len(creates) == 0 {
		return false
	}
	planned := make(map[int64]bool, len(creates))
	for _, c := range creates {
		planned[c.Order.ID] = true
	}
	for _, k := range keys {
		if k.EventID != 0 || !planned[k.OrderID] {
			return false
		}
	}
	return true
}

// answerCreates answers the keys of the creates the store applied (every
// key is event 0 of a planned create: plansAll), and returns the indexes
// of the other keys, which the general path answers (their answers are
// left zero).
func answerCreates(keys []EventKey, applied []Order) ([]Answer, []int) {
	stored := make(map[int64]Order, len(applied))
	for _, o := range applied {
		stored[o.ID] = o
	}
	answers := make([]Answer, len(keys))
	var rest []int
	for i, k := range keys {
		o, ok := stored[k.OrderID]
		if !ok {
			rest = append(rest, i)
			continue
		}
		answers[i] = Answer{Ack: Ack{OrderID: k.OrderID, EventID: 0, Order: o, Outcome: Outcome{OK: true}}, FromMessage: true}
	}
	return answers, rest
}

// process is Process's general path: read the orders, plan, save.
func (p *Processor) process(ctx context.Context, keys []EventKey, now func() time.Time) ([]Answer, error) {
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
