package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
)

// TestProcessBatch: the worker's two-round-trip batch announces PROCESSING
// (its own commit) and then DONE, applies each pending event once, answers a
// redelivery from the stored outcome, and leaves the connection idle.
func TestProcessBatch(t *testing.T) {
	s, owner, url := newStore(t)
	changes, _ := startListener(t, url)
	ctx := context.Background()
	user := uuid.NewString()
	a, _, _ := create(t, s, "pm-a", user, items("1.00"))
	b, _, _ := create(t, s, "pm-b", user, items("2.00"))
	keys := []order.EventKey{{OrderID: b.ID, EventID: 0}, {OrderID: a.ID, EventID: 0}}

	acks, err := acksOf(s.process(ctx, keys...))
	if err != nil {
		t.Fatal(err)
	}
	for i, ack := range acks {
		if !ack.Outcome.OK || ack.Duplicate || ack.Order.Status != order.StatusDone || ack.OrderID != keys[i].OrderID {
			t.Errorf("ack %d: got %+v; want order %d DONE, not a duplicate", i, ack, keys[i].OrderID)
		}
	}
	// PROCESSING of both (one statement, in id order) commits before the apply.
	wantChange(t, changes, a)
	wantChange(t, changes, b)
	wantChange(t, changes, a)
	wantChange(t, changes, b)

	acks, err = acksOf(s.process(ctx, keys...)) // redelivery: nothing changes
	if err != nil {
		t.Fatal(err)
	}
	for i, ack := range acks {
		if !ack.Outcome.OK || !ack.Duplicate || ack.Order.Status != order.StatusDone {
			t.Errorf("redelivered ack %d: got %+v; want DONE, duplicate", i, ack)
		}
	}
	var applied int
	if err := owner.QueryRow(ctx, "SELECT sum(apply_count) FROM order_events WHERE order_id = ANY($1)", []int64{a.ID, b.ID}).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 2 {
		t.Errorf("apply_count sum %d; want 2 (each create applied once)", applied)
	}
	select {
	case c := <-changes:
		t.Errorf("redelivery announced %+v; want nothing", c)
	default:
	}
}

// TestProcessBatchFailureRollsBack: when a statement of the batch fails,
// nothing of the apply transaction is kept and the connection goes back to
// the pool usable (not stuck in a failed transaction).
func TestProcessBatchFailureRollsBack(t *testing.T) {
	s, owner, _ := newStore(t)
	ctx := context.Background()
	o, _, _ := create(t, s, "pm-fail", uuid.NewString(), items("1.00"))
	// Make the save fail inside the transaction: a check the apply violates.
	if _, err := owner.Exec(ctx, "ALTER TABLE orders ADD CONSTRAINT no_done CHECK (status <> 'DONE') NOT VALID"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: 0}); err == nil {
			t.Fatal("the batch succeeded; want the check violation")
		}
	}
	var stuck int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Errorf("%d connections left idle in a transaction; want 0", stuck)
	}
	var status string
	var applied int
	if err := owner.QueryRow(ctx, "SELECT o.status, e.apply_count FROM orders o JOIN order_events e ON e.order_id = o.id WHERE o.id = $1", o.ID).Scan(&status, &applied); err != nil {
		t.Fatal(err)
	}
	if status != string(order.StatusProcessing) || applied != 0 {
		t.Errorf("after the failure: status %s, apply_count %d; want PROCESSING (its own commit), 0", status, applied)
	}
	if _, err := owner.Exec(ctx, "ALTER TABLE orders DROP CONSTRAINT no_done"); err != nil {
		t.Fatal(err)
	}
	acks, err := acksOf(s.process(ctx, order.EventKey{OrderID: o.ID, EventID: 0}))
	if err != nil || !acks[0].Outcome.OK || acks[0].Order.Status != order.StatusDone {
		t.Fatalf("after the fix: got %+v, %v; want DONE", acks, err)
	}
}
