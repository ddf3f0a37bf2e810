package order_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

func key(id int64, ev int) order.EventKey { return order.EventKey{OrderID: id, EventID: ev} }

// TestPlanBatch: each order's pending events are applied in event id
// order, once; keys of events applied before the batch are recalled, once.
func TestPlanBatch(t *testing.T) {
	created := order.Order{ID: 1, UserID: validUserID, Status: order.StatusNew, AppliedEventID: -1, EventID: 1}
	settled := order.Order{ID: 2, UserID: validUserID, Status: order.StatusDone, AppliedEventID: 0, EventID: 0, Items: pens}
	pending := []order.Pending{
		{Order: created, Events: []order.Event{
			{OrderID: 1, EventID: 0, Type: order.EventCreate, Items: pens},
			{OrderID: 1, EventID: 1, Type: order.EventUpdate, Items: books},
		}},
		{Order: settled},
	}
	keys := []order.EventKey{key(1, 1), key(2, 0), key(2, 0), key(1, 0)}
	plan := order.PlanBatch(keys, pending, t1)
	if len(plan.Orders) != 1 || plan.Orders[0].ID != 1 || plan.Orders[0].AppliedEventID != 1 || plan.Orders[0].Total.String() != "59.98" {
		t.Fatalf("Orders: got %+v; want order 1 with both events applied (the update's items)", plan.Orders)
	}
	if len(plan.Applied) != 2 || plan.Applied[0].Key != key(1, 0) || plan.Applied[1].Key != key(1, 1) || !plan.Applied[0].Outcome.OK {
		t.Errorf("Applied: got %+v; want events 0 then 1 of order 1, OK", plan.Applied)
	}
	if len(plan.Recall) != 1 || plan.Recall[0] != key(2, 0) {
		t.Errorf("Recall: got %+v; want order 2's event 0 once", plan.Recall)
	}
}

// TestAnswers: each key is answered with the outcome of its own event and
// the order's state after the batch; a redelivery is a duplicate with the
// stored outcome; an unknown order, an event never accepted and a missing
// one are NACKs to dead-letter.
func TestAnswers(t *testing.T) {
	before := map[int64]order.Order{
		1: {ID: 1, UserID: validUserID, AppliedEventID: -1, EventID: 0},
		2: {ID: 2, UserID: validUserID, AppliedEventID: 1, EventID: 3},
	}
	after := order.Order{ID: 1, UserID: validUserID, AppliedEventID: 0, EventID: 0, Status: order.StatusDone}
	plan := order.Plan{Applied: []order.Applied{{Key: key(1, 0), Outcome: order.Outcome{OK: true}}}}
	saved := order.Saved{Orders: []order.Order{after},
		Recalled: []order.Applied{{Key: key(2, 1), Outcome: order.Outcome{Code: order.ECONFLICT, Reason: "cancelled"}}}}
	keys := []order.EventKey{key(1, 0), key(2, 1), key(9, 0), key(2, 7), key(2, 0)}
	got := order.Answers(keys, before, plan, saved)
	for i, tc := range []struct {
		ok, dup    bool
		code       string
		orderID    int64
		deadLetter string
	}{
		{true, false, "", 1, ""},
		{false, true, order.ECONFLICT, 2, ""},
		{false, false, order.EPROCESSING, 0, "does not exist"},
		{false, false, order.EPROCESSING, 2, "never accepted"},
		{false, false, order.EPROCESSING, 2, "missing"},
	} {
		a := got[i]
		if a.Ack.OrderID != keys[i].OrderID || a.Ack.EventID != keys[i].EventID || a.Ack.Outcome.OK != tc.ok || a.Ack.Duplicate != tc.dup ||
			a.Ack.Outcome.Code != tc.code || a.Ack.Order.ID != tc.orderID || (tc.deadLetter == "") != (a.DeadLetter == "") ||
			!strings.Contains(a.DeadLetter, tc.deadLetter) {
			t.Errorf("answer %d (%+v): got %+v; want ok=%v dup=%v code=%q order %d dead letter %q", i, keys[i], a, tc.ok, tc.dup, tc.code, tc.orderID, tc.deadLetter)
		}
	}
	if got[0].Ack.Order.Status != order.StatusDone {
		t.Errorf("answer 0 carries %s; want the saved state DONE", got[0].Ack.Order.Status)
	}
}

// batchStore runs ProcessBatch on fixed pending orders and saves the plan.
type batchStore struct {
	pending []order.Pending
	err     error
	saved   order.Plan
}

func (s *batchStore) ProcessBatch(_ context.Context, _ []order.EventKey, plan func([]order.Pending) (order.Plan, error)) (order.Saved, error) {
	if s.err != nil {
		return order.Saved{}, s.err
	}
	p, err := plan(s.pending)
	if err != nil {
		return order.Saved{}, err
	}
	s.saved = p
	return order.Saved{Orders: p.Orders}, nil
}

func (s *batchStore) MarkFailed(context.Context, int64, string) error { return nil }

func TestProcessor(t *testing.T) {
	store := &batchStore{pending: []order.Pending{{
		Order:  order.Order{ID: 4, UserID: validUserID, Status: order.StatusProcessing, AppliedEventID: -1},
		Events: []order.Event{{OrderID: 4, EventID: 0, Type: order.EventCreate, Items: pens}},
	}}}
	p := &order.Processor{Store: store, Now: func() time.Time { return t1 }}
	answers, err := p.Process(t.Context(), []order.EventKey{key(4, 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := answers[0]; !a.Ack.Outcome.OK || a.Ack.Order.Status != order.StatusDone || !a.Ack.Order.UpdatedAt.Equal(t1) || a.DeadLetter != "" {
		t.Errorf("got %+v; want order 4 DONE at the processor's clock", a)
	}
	store.err = order.Unavailable("the database", errors.New("down"))
	if _, err := p.Process(t.Context(), []order.EventKey{key(4, 0)}, nil); order.ErrorCode(err) != order.EUNAVAILABLE {
		t.Errorf("store down: got %v; want UNAVAILABLE", err)
	}
}

// TestPlanCreates: only event 0 with items planned from its message, once
// per order, and only a create that succeeds, as Apply would give it on a
// new order; everything else is left to the general path.
func TestPlanCreates(t *testing.T) {
	hint := func(it []order.Item) []byte {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keys := []order.EventKey{key(1, 0), key(2, 1), key(3, 0), key(1, 0), key(4, 0), key(5, 0), key(6, 0)}
	hints := [][]byte{hint(pens), hint(books), nil, hint(books), []byte(`[{"name":`), hint([]order.Item{{Name: "", Quantity: 0, Price: 1}})}
	creates := order.PlanCreates(keys, hints, t1) // key 6 has no hint at all (hints is shorter)
	if len(creates) != 1 {
		t.Fatalf("got %d creates %+v; want order 1's only", len(creates), creates)
	}
	c := creates[0]
	want, out := order.Apply(order.Order{ID: 1, Status: order.StatusNew, AppliedEventID: -1, LastEventType: order.EventCreate},
		order.Event{OrderID: 1, EventID: 0, Type: order.EventCreate, Items: pens}, t1)
	if string(c.Items) != string(hints[0]) || c.Order.ID != 1 || c.Order.Status != order.StatusDone || c.Order.AppliedEventID != 0 ||
		c.Order.Total != want.Total || !c.Order.UpdatedAt.Equal(t1) || !out.OK {
		t.Errorf("create: got %+v; want order 1 DONE at event 0 with total %s, planned from the first hint", c, want.Total)
	}
}

// createStore is a CreateStore that applies the creates of the orders in
// apply and fails with err; its general path is batchStore's.
type createStore struct {
	batchStore
	apply map[int64]bool
	err   error
	calls int              // of ApplyCreates
	keys  []order.EventKey // the general path's
}

func (s *createStore) ApplyCreates(_ context.Context, _ []order.EventKey, creates []order.Create) ([]order.Order, error) {
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	var out []order.Order
	for _, c := range creates {
		if s.apply[c.Order.ID] {
			out = append(out, c.Order)
		}
	}
	return out, nil
}

func (s *createStore) ProcessBatch(ctx context.Context, keys []order.EventKey, plan func([]order.Pending) (order.Plan, error)) (order.Saved, error) {
	s.keys = keys
	return s.batchStore.ProcessBatch(ctx, keys, plan)
}

// TestProcessCreatesFromMessages: the creates the store applies from their
// messages are answered from the plan, the others by the general path, each
// answer at its key's place; a failure of the one-round-trip path other than
// an unavailable database leaves the whole batch to the general path, and
// so does a batch with a key that cannot be planned from its message.
func TestProcessCreatesFromMessages(t *testing.T) {
	hint, _ := json.Marshal(pens)
	general := []order.Pending{
		{Order: order.Order{ID: 2, UserID: validUserID, Status: order.StatusProcessing, AppliedEventID: -1},
			Events: []order.Event{{OrderID: 2, EventID: 0, Type: order.EventCreate, Items: books}}},
	}
	keys := []order.EventKey{key(2, 0), key(1, 0), key(2, 0)}
	hints := [][]byte{hint, hint, hint} // order 2's does not match what is stored: the store leaves it
	store := &createStore{batchStore: batchStore{pending: general}, apply: map[int64]bool{1: true}}
	p := &order.Processor{Store: store, Now: func() time.Time { return t1 }}
	answers, err := p.Process(t.Context(), keys, hints)
	if err != nil {
		t.Fatal(err)
	}
	if len(store.keys) != 2 || store.keys[0] != key(2, 0) || store.keys[1] != key(2, 0) {
		t.Errorf("general path got %+v; want order 2's two keys", store.keys)
	}
	for i, tc := range []struct {
		id          int64
		total       string
		fromMessage bool
	}{{2, "59.98", false}, {1, "4.50", true}, {2, "59.98", false}} {
		a := answers[i]
		if a.Ack.OrderID != tc.id || a.Ack.Order.ID != tc.id || !a.Ack.Outcome.OK || a.Ack.Order.Status != order.StatusDone ||
			a.Ack.Order.Total.String() != tc.total || a.FromMessage != tc.fromMessage {
			t.Errorf("answer %d: got %+v; want order %d DONE with total %s, from its message: %v", i, a, tc.id, tc.total, tc.fromMessage)
		}
	}

	store.err, store.keys = errors.New("deadlock detected"), nil
	if answers, err = p.Process(t.Context(), keys, hints); err != nil || len(store.keys) != 3 || answers[1].FromMessage {
		t.Errorf("after a failed one-round-trip apply: got %+v, %v, general path %+v; want all three keys on the general path", answers, err, store.keys)
	}
	store.err = order.Unavailable("the database", errors.New("down"))
	if _, err := p.Process(t.Context(), keys, hints); order.ErrorCode(err) != order.EUNAVAILABLE {
		t.Errorf("database down: got %v; want UNAVAILABLE", err)
	}

	store.err, store.keys, store.calls = nil, nil, 0
	mixed := []order.EventKey{key(1, 0), key(2, 0), key(2, 1)} // an update among the creates
	if _, err := p.Process(t.Context(), mixed, [][]byte{hint, hint, nil}); err != nil || store.calls != 0 || len(store.keys) != 3 {
		t.Errorf("a batch with an update: %v, %d one-round-trip calls, general path %+v; want the whole batch on the general path alone", err, store.calls, store.keys)
	}
	if _, err := p.Process(t.Context(), keys[:2], [][]byte{nil, hint}); err != nil || store.calls != 0 {
		t.Errorf("a create without items in the batch: %v, %d one-round-trip calls; want none", err, store.calls)
	}
}
