package order_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

var (
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
	t2 = t0.Add(2 * time.Minute)
)

func timePtr(t time.Time) *time.Time { return &t }

// newOrder is an order as CreateOrder stores it: NEW, event 0 accepted, none applied.
func newOrder(its []order.Item) order.Order {
	total, _ := order.Total(its)
	return order.Order{
		ID: 7, ExternalID: "o-7", UserID: validUserID, Status: order.StatusNew,
		EventID: 0, AppliedEventID: -1, LastEventType: order.EventCreate,
		Items: its, Total: total, CreatedAt: t0, UpdatedAt: t0,
	}
}

// doneOrder is an order whose events up to applied are applied, the last
// leaving it DONE with its.
func doneOrder(applied int, its []order.Item) order.Order {
	o := newOrder(its)
	o.Status = order.StatusDone
	o.EventID = applied
	o.AppliedEventID = applied
	o.UpdatedAt = t1
	return o
}

// cancelledOrder is an order whose cancel (event applied) is applied.
func cancelledOrder(applied int, its []order.Item) order.Order {
	o := doneOrder(applied, its)
	o.Status = order.StatusCancelled
	o.LastEventType = order.EventCancel
	o.CancelReason = "first reason"
	o.CancelledAt = timePtr(t1)
	return o
}

// accept is o after the store accepted event type typ: the next event id,
// status NEW.
func accept(o order.Order, typ order.EventType) order.Order {
	o.EventID++
	o.LastEventType = typ
	o.Status = order.StatusNew
	return o
}

func TestApply(t *testing.T) {
	pens := []order.Item{item("pen", 3, 150)}                        // 4.50
	books := []order.Item{item("book", 2, 2999), item("bag", 1, 10)} // 60.08
	badQty := []order.Item{item("pen", 0, 150)}
	ok := order.Outcome{OK: true}

	tests := []struct {
		name  string
		start order.Order
		ev    order.Event
		// change turns a copy of start into the wanted order; nil: unchanged.
		change      func(o *order.Order)
		wantOutcome order.Outcome
	}{
		{
			name:  "create makes the order DONE with its total",
			start: newOrder(books),
			ev:    order.Event{OrderID: 7, EventID: 0, Type: order.EventCreate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.Total, o.UpdatedAt = order.StatusDone, 0, 6008, t2
			},
			wantOutcome: ok,
		},
		{
			name:  "update makes the order DONE with the new items",
			start: accept(doneOrder(0, pens), order.EventUpdate),
			ev:    order.Event{OrderID: 7, EventID: 1, Type: order.EventUpdate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.Items, o.Total, o.UpdatedAt = order.StatusDone, 1, books, 6008, t2
			},
			wantOutcome: ok,
		},
		{
			name: "update of a FAILED order makes it DONE and clears the failure",
			start: func() order.Order {
				o := doneOrder(1, pens)
				o.Status, o.FailureReason = order.StatusFailed, "boom"
				return accept(o, order.EventUpdate)
			}(),
			ev: order.Event{EventID: 2, Type: order.EventUpdate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.FailureReason, o.AppliedEventID, o.Items, o.Total, o.UpdatedAt = order.StatusDone, "", 2, books, 6008, t2
			},
			wantOutcome: ok,
		},
		{
			name:  "cancel makes the order CANCELLED with reason and time",
			start: accept(doneOrder(0, pens), order.EventCancel),
			ev:    order.Event{EventID: 1, Type: order.EventCancel, Reason: "too slow"},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.CancelReason, o.CancelledAt, o.UpdatedAt = order.StatusCancelled, 1, "too slow", timePtr(t2), t2
			},
			wantOutcome: ok,
		},
		{
			name:  "cancel of a cancelled order keeps reason and time",
			start: accept(cancelledOrder(1, pens), order.EventCancel),
			ev:    order.Event{EventID: 2, Type: order.EventCancel, Reason: "second reason"},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.UpdatedAt = order.StatusCancelled, 2, t2
			},
			wantOutcome: ok,
		},
		{
			name:  "update of a cancelled order is a conflict",
			start: accept(cancelledOrder(1, pens), order.EventUpdate),
			ev:    order.Event{EventID: 2, Type: order.EventUpdate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.UpdatedAt = order.StatusCancelled, 2, t2
			},
			wantOutcome: order.Outcome{Code: order.ECONFLICT, Reason: "order is cancelled"},
		},
		{
			name:  "invalid update of a cancelled order is a conflict, not a failure",
			start: accept(cancelledOrder(1, pens), order.EventUpdate),
			ev:    order.Event{EventID: 2, Type: order.EventUpdate, Items: badQty},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.UpdatedAt = order.StatusCancelled, 2, t2
			},
			wantOutcome: order.Outcome{Code: order.ECONFLICT, Reason: "order is cancelled"},
		},
		{
			name:        "event ahead of sequence changes nothing",
			start:       accept(accept(doneOrder(1, pens), order.EventUpdate), order.EventUpdate),
			ev:          order.Event{EventID: 3, Type: order.EventUpdate, Items: books},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "event 3 out of sequence: last applied is 1"},
		},
		{
			name:        "event applied already changes nothing",
			start:       doneOrder(1, pens),
			ev:          order.Event{EventID: 1, Type: order.EventUpdate, Items: books},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "event 1 out of sequence: last applied is 1"},
		},
		{
			name:        "create of an order created already changes nothing",
			start:       doneOrder(0, pens),
			ev:          order.Event{EventID: 0, Type: order.EventCreate, Items: books},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "event 0 out of sequence: last applied is 0"},
		},
		{
			name:  "update with invalid items fails the order and keeps its items",
			start: accept(doneOrder(0, pens), order.EventUpdate),
			ev:    order.Event{EventID: 1, Type: order.EventUpdate, Items: badQty},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 1, "invalid items: must be between 1 and 1000000", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "invalid items: must be between 1 and 1000000"},
		},
		{
			name:  "update with a negative price fails the order",
			start: accept(doneOrder(0, pens), order.EventUpdate),
			ev:    order.Event{EventID: 1, Type: order.EventUpdate, Items: []order.Item{item("pen", 1, -1)}},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 1, "invalid items: must not be negative", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "invalid items: must not be negative"},
		},
		{
			name:  "create without items fails",
			start: newOrder(nil),
			ev:    order.Event{EventID: 0, Type: order.EventCreate},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 0, "invalid items: must list at least one item", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "invalid items: must list at least one item"},
		},
		{
			name:  "unknown type fails",
			start: accept(doneOrder(0, pens), "refund"),
			ev:    order.Event{EventID: 1, Type: "refund"},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 1, `unknown event type "refund"`, t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: `unknown event type "refund"`},
		},
		{
			name:  "create with event id 1 fails",
			start: accept(doneOrder(0, pens), order.EventCreate),
			ev:    order.Event{EventID: 1, Type: order.EventCreate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 1, "create event must be event 0, got 1", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "create event must be event 0, got 1"},
		},
		{
			name:  "update as event 0 fails",
			start: newOrder(pens),
			ev:    order.Event{EventID: 0, Type: order.EventUpdate, Items: books},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 0, "event 0 must create the order", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "event 0 must create the order"},
		},
		{
			name:  "cancel as event 0 fails",
			start: newOrder(pens),
			ev:    order.Event{EventID: 0, Type: order.EventCancel},
			change: func(o *order.Order) {
				o.Status, o.AppliedEventID, o.FailureReason, o.UpdatedAt = order.StatusFailed, 0, "event 0 must create the order", t2
			},
			wantOutcome: order.Outcome{Code: order.EPROCESSING, Reason: "event 0 must create the order"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.start
			if tt.change != nil {
				tt.change(&want)
			}
			got, out := order.Apply(tt.start, tt.ev, t2)
			if out != tt.wantOutcome {
				t.Errorf("outcome: got %+v; want %+v", out, tt.wantOutcome)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("order:\n got %+v\nwant %+v", got, want)
			}
			if tt.ev.EventID == tt.start.AppliedEventID+1 && got.AppliedEventID != tt.ev.EventID {
				t.Errorf("AppliedEventID: got %d; want %d", got.AppliedEventID, tt.ev.EventID)
			}
		})
	}
}

func TestApplyDoesNotChangeItsInput(t *testing.T) {
	start := doneOrder(0, []order.Item{item("pen", 1, 100)})
	before := start
	before.Items = append([]order.Item(nil), start.Items...)
	order.Apply(start, order.Event{EventID: 1, Type: order.EventCancel, Reason: "r"}, t2)
	order.Apply(start, order.Event{EventID: 1, Type: order.EventUpdate, Items: []order.Item{item("x", 0, 1)}}, t2)
	if !reflect.DeepEqual(start, before) {
		t.Errorf("input order after Apply: got %+v; want %+v", start, before)
	}
}

func TestApplySequence(t *testing.T) {
	v1 := []order.Item{item("pen", 1, 150)}
	v2 := []order.Item{item("pen", 2, 150), item("ink", 1, 99)}
	v3 := []order.Item{item("book", 1, 2999)}
	v4 := []order.Item{item("lamp", 1, 4500)}
	events := []order.Event{
		{EventID: 0, Type: order.EventCreate, Items: v1},
		{EventID: 1, Type: order.EventUpdate, Items: v2},
		{EventID: 2, Type: order.EventUpdate, Items: v3},
		{EventID: 3, Type: order.EventCancel, Reason: "found it cheaper"},
		{EventID: 4, Type: order.EventUpdate, Items: v4},
	}
	wantOutcomes := []order.Outcome{
		{OK: true}, {OK: true}, {OK: true}, {OK: true},
		{Code: order.ECONFLICT, Reason: "order is cancelled"},
	}
	wantStatus := []order.Status{order.StatusDone, order.StatusDone, order.StatusDone, order.StatusCancelled, order.StatusCancelled}
	wantTotal := []order.Decimal{150, 399, 2999, 2999, 2999}

	o := newOrder(v1)
	for i, ev := range events {
		now := t0.Add(time.Duration(i+1) * time.Second)
		var out order.Outcome
		o, out = order.Apply(o, ev, now)
		if out != wantOutcomes[i] {
			t.Errorf("event %d outcome: got %+v; want %+v", i, out, wantOutcomes[i])
		}
		if o.Status != wantStatus[i] {
			t.Errorf("event %d status: got %s; want %s", i, o.Status, wantStatus[i])
		}
		if o.Total != wantTotal[i] {
			t.Errorf("event %d total: got %s; want %s", i, o.Total, wantTotal[i])
		}
		if o.AppliedEventID != i {
			t.Errorf("event %d AppliedEventID: got %d; want %d", i, o.AppliedEventID, i)
		}
		if !o.UpdatedAt.Equal(now) {
			t.Errorf("event %d UpdatedAt: got %v; want %v", i, o.UpdatedAt, now)
		}
	}
	if !reflect.DeepEqual(o.Items, v3) {
		t.Errorf("final items: got %v; want %v", o.Items, v3)
	}
	if o.CancelReason != "found it cheaper" {
		t.Errorf("final CancelReason: got %q; want %q", o.CancelReason, "found it cheaper")
	}
	if want := t0.Add(4 * time.Second); o.CancelledAt == nil || !o.CancelledAt.Equal(want) {
		t.Errorf("final CancelledAt: got %v; want %v", o.CancelledAt, want)
	}
	if o.FailureReason != "" {
		t.Errorf("final FailureReason: got %q; want \"\"", o.FailureReason)
	}

	// Replaying the same events from the start gives the same state: Apply is pure.
	again := newOrder(v1)
	for i, ev := range events {
		again, _ = order.Apply(again, ev, t0.Add(time.Duration(i+1)*time.Second))
	}
	if !reflect.DeepEqual(again, o) {
		t.Errorf("replay:\n got %+v\nwant %+v", again, o)
	}
}
