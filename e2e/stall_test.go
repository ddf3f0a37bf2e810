package e2e

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestStuckCreateHoldsNoOtherCreate: the API runs one create statement at
// a time (DB_CREATE_BATCH_IN_FLIGHT=1), and one that is stuck must not hold
// every other user's create behind it (DB_BATCH_STALL, docs/SCALING.md).
// Another session inserts an order with the same (external_id, user_id) and
// keeps its transaction open, so the API's create of that order waits on
// the unique index; another user's create must still be DONE while it
// waits, and the stuck one completes once the other session rolls back.
func TestStuckCreateHoldsNoOtherCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, e.urls.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	blocker, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck
	stuckUser := uuid.NewString()
	if _, err := blocker.Exec(ctx, `INSERT INTO orders (external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total)
VALUES ('stuck', $1, 'NEW', 0, -1, 'create', '[{"name":"A","quantity":1,"price":"1"}]', 1)`, stuckUser); err != nil {
		t.Fatal(err)
	}

	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status externalId } } }`
	in := func(ext, user string) map[string]any {
		return map[string]any{"in": map[string]any{"externalId": ext, "userId": user,
			"items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1"}}}}
	}
	stuck := make(chan gqlResult, 1)
	go func() { stuck <- e.graphql(create, in("stuck", stuckUser)) }()
	// The API's statement waits for the open transaction's row.
	monitor, err := pgx.Connect(ctx, e.urls.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer monitor.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting int
		if err := monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API's create never waited for the open transaction")
		}
	}

	// Another user's create, while that statement is stuck.
	other := make(chan gqlResult, 1)
	go func() { other <- e.graphql(create, in("free", uuid.NewString())) }()
	select {
	case r := <-other:
		if got := decodeField[struct{ Order gqlOrder }](t, r, "createOrder").Order.Status; got != "DONE" {
			t.Fatalf("the other user's create: %s; want DONE", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other user's create still waits 10 s behind the stuck statement")
	}
	select {
	case r := <-stuck:
		t.Fatalf("the stuck create answered before the other session ended: %+v", r)
	default:
	}
	// At least the stuck statement (another may have run past 10 ms on a slow machine).
	if m := regexp.MustCompile(`(?m)^orderstream_db_batch_stalls_total (\d+)$`).FindStringSubmatch(metricsOf(t, e.base)); m == nil || m[1] == "0" {
		t.Errorf("orderstream_db_batch_stalls_total: %v; want at least 1 (the stuck statement)", m)
	}

	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-stuck:
		if got := decodeField[struct{ Order gqlOrder }](t, r, "createOrder").Order.Status; got != "DONE" {
			t.Errorf("the stuck create, once free: %s; want DONE", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stuck create did not complete after the other session rolled back")
	}
}
