package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestEnumerationsAreDomains: since migration 000009 the allowed values of
// orders.status, orders.last_event_type and order_events.type are checked
// by domains (whose constraints each session keeps parsed), not by table
// CHECK constraints (which PostgreSQL parses again for every write). The
// values allowed are the same: anything else is refused with
// check_violation, and every allowed value is accepted.
func TestEnumerationsAreDomains(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	o, _, _ := create(t, s, "domains", uuid.NewString(), items("1.00"))

	var tableChecks int
	if err := owner.QueryRow(ctx, `select count(*) from pg_constraint
		where contype = 'c' and conrelid in ('orders'::regclass, 'order_events'::regclass)
		  and (pg_get_constraintdef(oid) like '%status%' or pg_get_constraintdef(oid) like '%type%')`).Scan(&tableChecks); err != nil {
		t.Fatal(err)
	}
	if tableChecks != 0 {
		t.Errorf("%d table CHECK constraints on status or type; want none (the domains check them)", tableChecks)
	}
	var unvalidated int
	if err := owner.QueryRow(ctx, `select count(*) from pg_constraint c join pg_type t on t.oid = c.contypid
		where t.typname in ('order_status', 'order_event_type') and not c.convalidated`).Scan(&unvalidated); err != nil {
		t.Fatal(err)
	}
	if unvalidated != 0 {
		t.Errorf("%d domain constraints not validated", unvalidated)
	}

	for _, c := range []struct {
		sql   string
		value string
		ok    bool
	}{
		{"update orders set status = $2 where id = $1", "NEW", true},
		{"update orders set status = $2 where id = $1", "PROCESSING", true},
		{"update orders set status = $2 where id = $1", "DONE", true},
		{"update orders set status = $2 where id = $1", "CANCELLED", true},
		{"update orders set status = $2 where id = $1", "FAILED", true},
		{"update orders set status = $2 where id = $1", "done", false},
		{"update orders set status = $2 where id = $1", "", false},
		{"update orders set last_event_type = $2 where id = $1", "update", true},
		{"update orders set last_event_type = $2 where id = $1", "delete", false},
		{"update order_events set type = $2 where order_id = $1", "cancel", true},
		{"update order_events set type = $2 where order_id = $1", "CREATE", false},
	} {
		_, err := owner.Exec(ctx, c.sql, o.ID, c.value)
		var pe *pgconn.PgError
		switch {
		case c.ok && err != nil:
			t.Errorf("%s with %q: %v; want accepted", c.sql, c.value, err)
		case !c.ok && (!errors.As(err, &pe) || pe.Code != "23514"):
			t.Errorf("%s with %q: %v; want a check_violation (23514)", c.sql, c.value, err)
		}
	}
}
