package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
)

// countingStore is the worker's store, counting the batches that take the
// general path (ProcessBatch: read, plan, save); ApplyCreates is the
// embedded store's.
type countingStore struct {
	*postgres.Store
	general atomic.Int64
}

func (c *countingStore) ProcessBatch(ctx context.Context, keys []order.EventKey, plan func([]order.Pending) (order.Plan, error)) (order.Saved, error) {
	c.general.Add(1)
	return c.Store.ProcessBatch(ctx, keys, plan)
}

func hintOf(t *testing.T, it []order.Item) []byte {
	t.Helper()
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored reads what the worker left of an order and its event 0.
func stored(t *testing.T, s roleStore, id int64) (status string, applied int, total string, applyCount int, outcome string) {
	t.Helper()
	err := s.ownerPool.QueryRow(context.Background(), `SELECT o.status, o.applied_event_id, o.total::text, e.apply_count, e.outcome_code
		FROM orders o JOIN order_events e ON e.order_id = o.id AND e.event_id = 0 WHERE o.id = $1`, id).Scan(&status, &applied, &total, &applyCount, &outcome)
	if err != nil {
		t.Fatal(err)
	}
	return
}

// TestCreatesInOneRoundTrip: a batch of creates whose messages carry their
// items is applied without the general path's read, with the same result
// (DONE, the total, event 0's outcome recorded once, the order as stored in
// the ACK); a redelivery is answered from the stored outcome.
func TestCreatesInOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	c := &countingStore{Store: s.worker}
	p := &order.Processor{Store: c}
	alice, bob := uuid.NewString(), uuid.NewString()
	a, _, _ := create(t, s, "fast-a", alice, items("1.50", "2.25"))
	b, _, _ := create(t, s, "fast-b", bob, items("10.00"))
	keys := []order.EventKey{{OrderID: b.ID}, {OrderID: a.ID}, {OrderID: b.ID}} // b twice: a duplicate message in one batch
	hints := [][]byte{hintOf(t, b.Items), hintOf(t, a.Items), hintOf(t, b.Items)}
	answers, err := p.Process(ctx, keys, hints)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.general.Load(); n != 0 {
		t.Errorf("%d batches took the general path; want 0", n)
	}
	for i, want := range []order.Order{b, a, b} {
		ack := answers[i].Ack
		if !ack.Outcome.OK || ack.Duplicate || answers[i].DeadLetter != "" || ack.OrderID != want.ID || ack.EventID != 0 ||
			ack.Order.Status != order.StatusDone || ack.Order.AppliedEventID != 0 || ack.Order.ExternalID != want.ExternalID ||
			ack.Order.UserID != want.UserID || ack.Order.Total != want.Total || len(ack.Order.Items) != len(want.Items) {
			t.Errorf("answer %d: %+v; want order %d DONE with total %s, not a duplicate", i, answers[i], want.ID, want.Total)
		}
	}
	for _, o := range []order.Order{a, b} {
		if status, applied, total, n, code := stored(t, s, o.ID); status != "DONE" || applied != 0 || total != o.Total.String() || n != 1 || code != "" {
			t.Errorf("order %d stored %s, applied %d, total %s, event 0 applied %d times (code %q); want DONE, 0, %s, once, OK",
				o.ID, status, applied, total, n, code, o.Total)
		}
	}

	again, err := p.Process(ctx, keys[:2], hints[:2]) // redelivered: the stored order no longer matches the plan
	if err != nil {
		t.Fatal(err)
	}
	if n := c.general.Load(); n != 1 {
		t.Errorf("redelivery: %d batches took the general path; want 1", n)
	}
	for i, ans := range again {
		if !ans.Ack.Duplicate || !ans.Ack.Outcome.OK || ans.Ack.Order.Status != order.StatusDone {
			t.Errorf("redelivery %d: %+v; want a duplicate, OK, DONE", i, ans)
		}
	}
	if _, _, _, n, _ := stored(t, s, a.ID); n != 1 {
		t.Errorf("event 0 of order %d applied %d times after the redelivery; want 1", a.ID, n)
	}
}

// TestCreateHintsAreNotTrusted: the items a message carries only let the
// worker plan ahead. When they differ from the stored ones (a forged or
// corrupted message), or the order has more than its create to apply, or
// the hint is not valid items, the order is applied from the store, exactly
// as without a hint.
func TestCreateHintsAreNotTrusted(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	c := &countingStore{Store: s.worker}
	p := &order.Processor{Store: c}
	user := uuid.NewString()
	forged, _, _ := create(t, s, "forged", user, items("1.00"))
	updated, _, _ := create(t, s, "updated", user, items("2.00"))
	appendEvent(t, s, updated, order.Event{Type: order.EventUpdate, Items: items("3.00", "4.00")})
	cancelled, _, _ := create(t, s, "cancelled", user, items("5.00"))
	appendEvent(t, s, cancelled, order.Event{Type: order.EventCancel, Reason: "changed my mind"})
	invalid, _, _ := create(t, s, "invalid", user, items("6.00"))

	keys := []order.EventKey{{OrderID: forged.ID}, {OrderID: updated.ID}, {OrderID: cancelled.ID}, {OrderID: invalid.ID}}
	hints := [][]byte{
		hintOf(t, items("999.00")), // not what was stored
		hintOf(t, updated.Items),   // what was stored, but event 1 is pending too
		hintOf(t, cancelled.Items),
		[]byte(`[{"name":"","quantity":-1,"price":"1.00"}]`), // not valid items: left to the general path
	}
	applied, err := s.worker.ApplyCreates(ctx, keys, order.PlanCreates(keys, hints, forged.CreatedAt))
	if err != nil || len(applied) != 0 {
		t.Fatalf("ApplyCreates: applied %+v, %v; want none", applied, err)
	}
	for _, o := range []order.Order{forged, updated, cancelled, invalid} {
		if status, n, _, count, _ := stored(t, s, o.ID); status != "PROCESSING" || n != -1 || count != 0 {
			t.Errorf("order %d after ApplyCreates: %s, applied %d, event 0 applied %d times; want PROCESSING and untouched", o.ID, status, n, count)
		}
	}

	// The first three are planned, tried in one round trip, left alone by
	// it and applied by the general path; the invalid one is not planned,
	// so its batch takes the general path at once.
	answers, err := p.Process(ctx, keys[:3], hints[:3])
	if err != nil {
		t.Fatal(err)
	}
	last, err := p.Process(ctx, keys[3:], hints[3:])
	if err != nil {
		t.Fatal(err)
	}
	answers = append(answers, last...)
	if n := c.general.Load(); n != 2 {
		t.Errorf("%d batches took the general path; want 2", n)
	}
	want := []struct {
		status order.Status
		total  string
	}{{order.StatusDone, "1.00"}, {order.StatusDone, "11.00"}, {order.StatusCancelled, "5.00"}, {order.StatusDone, "6.00"}}
	for i, w := range want {
		ack := answers[i].Ack
		if !ack.Outcome.OK || ack.Duplicate || ack.Order.Status != w.status || ack.Order.Total.String() != w.total {
			t.Errorf("order %d: %+v; want event 0 OK, the order %s with total %s (the stored items)", keys[i].OrderID, answers[i], w.status, w.total)
		}
	}
}

// TestConcurrentCreatesApplyOnce: two workers that get the same create at
// once (a rebalance redelivers it) apply it once; the other is answered
// with the stored outcome.
func TestConcurrentCreatesApplyOnce(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	user := uuid.NewString()
	var keys []order.EventKey
	var hints [][]byte
	for i := range 20 {
		o, _, _ := create(t, s, "race-"+string(rune('a'+i)), user, items("1.00"))
		keys, hints = append(keys, order.EventKey{OrderID: o.ID}), append(hints, hintOf(t, o.Items))
	}
	var wg sync.WaitGroup
	results := make([][]order.Answer, 2)
	errs := make([]error, 2)
	for w := range 2 {
		wg.Go(func() {
			results[w], errs[w] = (&order.Processor{Store: s.worker}).Process(ctx, keys, hints)
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	for i, k := range keys {
		a, b := results[0][i].Ack, results[1][i].Ack
		if !a.Outcome.OK || !b.Outcome.OK || a.Duplicate == b.Duplicate || a.Order.Status != order.StatusDone || b.Order.Status != order.StatusDone {
			t.Errorf("order %d: answers %+v and %+v; want both OK and DONE, exactly one a duplicate", k.OrderID, a, b)
		}
		if _, _, _, n, _ := stored(t, s, k.OrderID); n != 1 {
			t.Errorf("order %d: event 0 applied %d times; want 1", k.OrderID, n)
		}
	}
}
