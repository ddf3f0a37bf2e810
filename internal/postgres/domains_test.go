package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestChecksAreDomains: since migrations 000009 and 000010 the
// single-column checks of orders and order_events (status, event types,
// external id length, event ids, total) are domains (whose constraints
// each session keeps parsed), not table CHECK constraints (which
// PostgreSQL parses again for every write); only orders_check, which
// relates two columns, is left. The values allowed are the same: anything
// else is refused with check_violation, and every allowed value is
// accepted.
func TestChecksAreDomains(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	o, _, _ := create(t, s, "domains", uuid.NewString(), items("1.00"))

	var tableChecks []string
	rows, err := owner.Query(ctx, `select conname from pg_constraint
		where contype = 'c' and conrelid in ('orders'::regclass, 'order_events'::regclass) order by conname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tableChecks = append(tableChecks, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tableChecks) != 1 || tableChecks[0] != "orders_check" {
		t.Errorf("table CHECK constraints %v; want only orders_check (the domains check the rest)", tableChecks)
	}
	var domains, unvalidated int
	if err := owner.QueryRow(ctx, `select count(*), count(*) filter (where not c.convalidated)
		from pg_constraint c join pg_type t on t.oid = c.contypid
		where t.typname in ('order_status', 'order_event_type', 'order_external_id', 'order_event_seq', 'order_total')`).Scan(&domains, &unvalidated); err != nil {
		t.Fatal(err)
	}
	if domains != 5 || unvalidated != 0 {
		t.Errorf("%d domain constraints, %d not validated; want 5, all validated", domains, unvalidated)
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
		{"update orders set external_id = $2 where id = $1", "x", true},
		{"update orders set external_id = $2 where id = $1", strings.Repeat("x", 255), true},
		{"update orders set external_id = $2 where id = $1", strings.Repeat("x", 256), false},
		{"update orders set external_id = $2 where id = $1", "", false},
		{"update orders set total = $2::numeric where id = $1", "0", true},
		{"update orders set total = $2::numeric where id = $1", "-0.01", false},
		{"update orders set event_id = $2::int, applied_event_id = -1 where id = $1", "3", true},
		{"update orders set event_id = $2::int, applied_event_id = -1 where id = $1", "-1", false},
		{"update orders set applied_event_id = $2::int where id = $1", "4", false}, // orders_check: above event_id
		{"update order_events set event_id = $2::int where order_id = $1", "7", true},
		{"update order_events set event_id = $2::int where order_id = $1", "-2", false},
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
