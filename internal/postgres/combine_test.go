package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
)

// createCall is one CreateOrder of a test and what it returned.
type createCall struct {
	ctx     context.Context
	in      order.CreateInput
	o       order.Order
	ev      order.Event
	created bool
	err     error
}

// queuedCreates runs calls concurrently on a store that batches creates,
// one batch at a time, while a transaction of the owner holds the first
// call's order key: the first create waits on the unique index, alone, and
// every other call queues behind it (queueBehindLock).
func queuedCreates(t *testing.T, s roleStore, owner *pgxpool.Pool, calls []*createCall) {
	t.Helper()
	run := make([]func(), len(calls))
	joins := make([]bool, len(calls))
	for i, c := range calls {
		if c.ctx == nil {
			c.ctx = context.Background()
		}
		run[i] = func() {
			total, _ := order.Total(c.in.Items)
			c.o, c.ev, c.created, c.err = s.CreateOrder(c.ctx, c.in, total)
		}
		joins[i] = joinsBatch(c.ctx, c.in.UserID)
	}
	first := calls[0].in
	queueBehindLock(t, owner, `INSERT INTO orders (external_id, user_id, status, last_event_type, items, total)
		VALUES ($1, $2, 'NEW', 'create', '[]', 0)`, []any{first.ExternalID, first.UserID}, run, joins, s.QueuedCreates)
}

// joinsBatch reports whether a call for user on ctx may join a batch: no
// principal, an admin, or the user's own.
func joinsBatch(ctx context.Context, user string) bool {
	p, ok := order.PrincipalFrom(ctx)
	return !ok || p.Admin || p.UserID == user
}

// queueBehindLock runs calls (each one call of a store that batches, one
// batch at a time) while a transaction of the owner that ran block (with
// args) holds a lock: the first call waits for it, alone, and every other
// call that joins a batch (joins[i]) queues behind it, one at a time, so
// that the queue holds them in the order of calls (queued: its length).
// Once all are queued, the owner's transaction rolls back, and the queue
// goes as one batch, led by the second call.
func queueBehindLock(t *testing.T, owner *pgxpool.Pool, block string, args []any, calls []func(), joins []bool, queued func() int) {
	t.Helper()
	ctx := context.Background()
	blocker, err := owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck
	if _, err := blocker.Exec(ctx, block, args...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	run := func(call func()) {
		defer wg.Done()
		call()
	}
	wg.Add(1)
	go run(calls[0])
	waitFor(t, "the first call to wait for the owner's lock", func() bool {
		return count(t, owner, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") > 0
	})
	n := 0
	for i, call := range calls[1:] {
		wg.Add(1)
		go run(call)
		if joins[i+1] {
			n++
			waitFor(t, "the call to queue", func() bool { return queued() == n })
		}
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func newBatchingStore(t *testing.T, max int) (roleStore, *pgxpool.Pool) {
	t.Helper()
	s, owner, _ := newStore(t)
	s.BatchCreates(max, 1, 0)
	return s, owner
}

func TestCreateBatch(t *testing.T) {
	s, owner := newBatchingStore(t, 64)
	users := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	var calls []*createCall
	for i := range 40 {
		calls = append(calls, &createCall{in: order.CreateInput{ExternalID: fmt.Sprintf("b-%d", i), UserID: users[i%len(users)],
			Items: items(fmt.Sprintf("%d.25", i+1))}})
	}
	queuedCreates(t, s, owner, calls)
	for i, c := range calls {
		if c.err != nil || !c.created {
			t.Fatalf("create %d: created %v, %v; want created", i, c.created, c.err)
		}
		if c.o.ExternalID != c.in.ExternalID || c.o.UserID != c.in.UserID || c.o.Status != order.StatusNew || c.o.EventID != 0 ||
			!order.SameItems(c.o.Items, c.in.Items) || c.o.Total.String() != fmt.Sprintf("%d.25", i+1) {
			t.Errorf("create %d (%s of %s) returned %+v; want its own order", i, c.in.ExternalID, c.in.UserID, c.o)
		}
		if c.ev.OrderID != c.o.ID || c.ev.EventID != 0 || c.ev.Type != order.EventCreate || c.ev.UserID != c.in.UserID {
			t.Errorf("create %d: event %+v; want event 0 of order %d", i, c.ev, c.o.ID)
		}
		stored, err := s.OrderByExternalID(context.Background(), c.in.ExternalID, c.in.UserID)
		if err != nil || stored.ID != c.o.ID || !order.SameItems(stored.Items, c.in.Items) {
			t.Errorf("create %d: stored %+v, %v; want the returned order", i, stored, err)
		}
	}
	if n := count(t, owner, `SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id AND o.user_id = e.user_id
		WHERE e.event_id = 0 AND e.type = 'create' AND e.applied_at IS NULL AND e.next_publish_at > now()
		  AND e.payload->'items' = o.items`); n != len(calls) {
		t.Errorf("%d create events with their order's user and items, due later; want %d", n, len(calls))
	}
	if batches, creates := s.CreateBatches(); batches != 1 || creates != int64(len(calls)-1) {
		t.Errorf("%d batches of %d creates; want the %d queued ones in 1", batches, creates, len(calls)-1)
	}
	// The batch's transaction bound its users; the setting ended with it.
	var setting *string
	if err := s.apiPool.QueryRow(context.Background(), "SELECT nullif(current_setting('orderstream.user_ids', true), '')").Scan(&setting); err != nil || setting != nil {
		t.Errorf("after a batch, a connection has orderstream.user_ids = %v (%v); want none", setting, err)
	}
}

// TestCreateBatchMax checks that a queue longer than max goes in several batches.
func TestCreateBatchMax(t *testing.T) {
	s, owner := newBatchingStore(t, 8)
	user := uuid.NewString()
	var calls []*createCall
	for i := range 21 {
		calls = append(calls, &createCall{in: order.CreateInput{ExternalID: fmt.Sprintf("m-%d", i), UserID: user, Items: items("1.00")}})
	}
	queuedCreates(t, s, owner, calls)
	for i, c := range calls {
		if c.err != nil || !c.created || c.o.ExternalID != c.in.ExternalID {
			t.Fatalf("create %d: %+v created %v, %v; want its order created", i, c.o, c.created, c.err)
		}
	}
	if batches, creates := s.CreateBatches(); batches != 3 || creates != 20 {
		t.Errorf("%d batches of %d creates; want the 20 queued ones in 3 (8, 8, 4)", batches, creates)
	}
}

// TestCreateBatchSameOrder sends the same create several times into one
// queue (a client retrying, two tabs): one order, one create event, every
// call answered with it, exactly one of them as its creator.
func TestCreateBatchSameOrder(t *testing.T) {
	s, owner := newBatchingStore(t, 64)
	user := uuid.NewString()
	calls := []*createCall{{in: order.CreateInput{ExternalID: "first", UserID: user, Items: items("1.00")}}}
	for range 5 {
		calls = append(calls, &createCall{in: order.CreateInput{ExternalID: "twice", UserID: user, Items: items("2.00")}})
		calls = append(calls, &createCall{in: order.CreateInput{ExternalID: "other-" + uuid.NewString(), UserID: user, Items: items("3.00")}})
	}
	queuedCreates(t, s, owner, calls)
	var creators int
	var id int64
	for i, c := range calls {
		if c.err != nil || c.o.ExternalID != c.in.ExternalID {
			t.Fatalf("create %d: %+v, %v; want its order", i, c.o, c.err)
		}
		if c.in.ExternalID != "twice" {
			continue
		}
		if c.created {
			creators++
		}
		if id == 0 {
			id = c.o.ID
		}
		if c.o.ID != id || c.ev.OrderID != id || c.ev.EventID != 0 || !order.SameItems(c.ev.Items, items("2.00")) {
			t.Errorf("create %d of the same order: order %d, event %+v; want order %d and its create event", i, c.o.ID, c.ev, id)
		}
	}
	if creators != 1 {
		t.Errorf("%d calls created the repeated order; want exactly 1", creators)
	}
	if n := count(t, owner, "SELECT count(*) FROM order_events WHERE order_id = $1", id); n != 1 {
		t.Errorf("the repeated order has %d events; want 1", n)
	}
	// The repeats ran alone, after the batch that held the first of them:
	// in it, they would have failed the batch for everyone in it.
	if batches, creates := s.CreateBatches(); batches != 1 || creates != 6 {
		t.Errorf("%d batches of %d creates; want 1 of 6 (the repeated order once, the 5 others)", batches, creates)
	}
}

// TestCreateBatchBadRow puts a create that PostgreSQL refuses (an external
// id beyond the column's CHECK: the domain's validation would refuse it
// first) into a batch: it fails alone, the others are stored.
func TestCreateBatchBadRow(t *testing.T) {
	s, owner := newBatchingStore(t, 64)
	user := uuid.NewString()
	var calls []*createCall
	for i := range 10 {
		ext := fmt.Sprintf("ok-%d", i)
		if i == 5 {
			ext = strings.Repeat("x", 300)
		}
		calls = append(calls, &createCall{in: order.CreateInput{ExternalID: ext, UserID: user, Items: items("1.00")}})
	}
	queuedCreates(t, s, owner, calls)
	for i, c := range calls {
		if i == 5 {
			if c.err == nil {
				t.Errorf("the bad create: got %+v; want an error", c.o)
			}
			continue
		}
		if c.err != nil || !c.created {
			t.Errorf("create %d beside a bad one: created %v, %v; want created", i, c.created, c.err)
		}
	}
	if n := count(t, owner, "SELECT count(*) FROM orders WHERE user_id = $1", user); n != 9 {
		t.Errorf("%d orders stored; want the 9 good ones", n)
	}
}

// TestCreateBatchPrincipal checks row-level security under batching: a
// create for alice made with bob's (non-admin) principal never joins a
// batch, even one that holds alice's own creates, so it is refused as when
// alone; and the database refuses a row whose user is not among the
// batch's users.
func TestCreateBatchPrincipal(t *testing.T) {
	s, owner := newBatchingStore(t, 64)
	alice, bob := uuid.NewString(), uuid.NewString()
	bobCtx := order.WithPrincipal(context.Background(), order.Principal{UserID: bob})
	aliceCtx := order.WithPrincipal(context.Background(), order.Principal{UserID: alice})
	calls := []*createCall{{in: order.CreateInput{ExternalID: "a-0", UserID: alice, Items: items("1.00")}, ctx: aliceCtx}}
	for i := range 6 {
		calls = append(calls, &createCall{ctx: aliceCtx, in: order.CreateInput{ExternalID: fmt.Sprintf("a-%d", i+1), UserID: alice, Items: items("1.00")}})
		calls = append(calls, &createCall{ctx: bobCtx, in: order.CreateInput{ExternalID: fmt.Sprintf("b-%d", i), UserID: bob, Items: items("1.00")}})
	}
	forged := &createCall{ctx: bobCtx, in: order.CreateInput{ExternalID: "forged", UserID: alice, Items: items("9.00")}}
	calls = append(calls, forged)
	queuedCreates(t, s, owner, calls)
	if forged.err == nil {
		t.Errorf("create for alice with bob's principal, beside alice's creates: got %+v; want a refusal", forged.o)
	}
	for i, c := range calls[:len(calls)-1] {
		if c.err != nil || !c.created || c.o.UserID != c.in.UserID {
			t.Errorf("create %d: %+v created %v, %v; want its own order", i, c.o, c.created, c.err)
		}
	}
	if n := count(t, owner, "SELECT count(*) FROM orders WHERE external_id = 'forged'"); n != 0 {
		t.Errorf("%d forged orders stored; want none", n)
	}
	if batches, creates := s.CreateBatches(); batches != 1 || creates != 12 {
		t.Errorf("%d batches of %d creates; want alice's and bob's 12 queued ones in 1, the forged one alone", batches, creates)
	}

	// The database's half: a statement bound to some users writes and
	// sees only theirs.
	ctx := context.Background()
	carol := uuid.NewString()
	asUsers := func(users []string, sql string, args ...any) error {
		return pgx.BeginFunc(ctx, s.apiPool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('orderstream.user_ids', $1::uuid[]::text, true)", users); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		})
	}
	insert := `INSERT INTO orders (external_id, user_id, status, last_event_type, items, total) VALUES ('x', $1, 'NEW', 'create', '[]', 0)`
	wantPgCode(t, "insert for carol bound to alice and bob", asUsers([]string{alice, bob}, insert, carol), "42501")
	if err := asUsers([]string{alice, bob}, insert, bob); err != nil {
		t.Errorf("insert for bob bound to alice and bob: %v", err)
	}
	seen := map[string]int{}
	err := pgx.BeginFunc(ctx, s.apiPool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('orderstream.user_ids', $1::uuid[]::text, true)", []string{bob}); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT user_id FROM orders")
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range ids {
			seen[id.String()]++
		}
		return err
	})
	if err != nil || len(seen) != 1 || seen[bob] != 7 {
		t.Errorf("bound to bob, the API sees %v (%v); want bob's 7 orders only", seen, err)
	}
}
