package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

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

// TestCheckDomainMigrations tries the promises of migrations 000008 to
// 000010 on a database with orders, as an operator would meet them on a
// running service: 000008 (fillfactor) goes through while another session
// holds an open write transaction on orders, and 000009 and 000010 (the
// checks as domains) rewrite no table and rebuild no index (every
// relfilenode stays), keep every row as it was, and come back down.
func TestCheckDomainMigrations(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	user := uuid.NewString()
	for i := range 20 {
		o, _, _ := create(t, s, fmt.Sprintf("migrate-%d", i), user, items("1.00", "2.50"))
		if i%2 == 0 {
			if _, err := s.processOne(ctx, o.ID, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	snapshot := func() string {
		var rows string
		if err := owner.QueryRow(ctx, `select string_agg(format('%s %s %s %s %s %s', o.id, o.external_id, o.status, o.event_id,
			o.total, (select string_agg(e.type || e.event_id, ',') from order_events e where e.order_id = o.id)), ';' order by o.id)
			from orders o`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	files := func() map[string]uint32 {
		rows, err := owner.Query(ctx, `select relname, relfilenode from pg_class
			where oid in ('orders'::regclass, 'order_events'::regclass)
			   or oid in (select indexrelid from pg_index where indrelid in ('orders'::regclass, 'order_events'::regclass))`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]uint32{}
		for rows.Next() {
			var name string
			var file uint32
			if err := rows.Scan(&name, &file); err != nil {
				t.Fatal(err)
			}
			out[name] = file
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := snapshot()
	m := migrator(t, owner)
	if err := m.Migrate(7); err != nil {
		t.Fatalf("down to 7: %v", err)
	}

	// 000008 while a writer holds its transaction open.
	writer, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx)
	if _, err := writer.Exec(ctx, "update orders set updated_at = updated_at where user_id = $1", user); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Migrate(8) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up to 8: %v", err)
		}
	case <-time.After(5 * time.Second):
		writer.Rollback(ctx)
		t.Fatalf("000008 waited for an open write transaction on orders: %v", <-done)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	before := files()
	if err := m.Up(); err != nil {
		t.Fatalf("up to the last: %v", err)
	}
	if after := files(); !maps.Equal(before, after) {
		t.Errorf("relfilenodes before 000009 %v, after 000010 %v: a table or index was rewritten", before, after)
	}
	if got := snapshot(); got != want {
		t.Errorf("rows after down and up:\n%s\nwant\n%s", got, want)
	}
}
