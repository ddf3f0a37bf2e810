package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// lookupCall is one OrderByExternalID of a test and what it returned.
type lookupCall struct {
	ctx              context.Context
	externalID, user string
	o                order.Order
	err              error
}

// queuedLookups runs calls concurrently on a store that batches lookups,
// one batch at a time, while a transaction of the owner holds an exclusive
// lock on orders: the first lookup waits for it, alone, and every other
// call that may join a batch queues behind it (queueBehindLock), the batch
// led by calls[1].
func queuedLookups(t *testing.T, s roleStore, owner *pgxpool.Pool, calls []*lookupCall) {
	t.Helper()
	run := make([]func(), len(calls))
	joins := make([]bool, len(calls))
	for i, c := range calls {
		if c.ctx == nil {
			c.ctx = context.Background()
		}
		run[i] = func() { c.o, c.err = s.OrderByExternalID(c.ctx, c.externalID, c.user) }
		joins[i] = joinsBatch(c.ctx, c.user)
	}
	queueBehindLock(t, owner, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", nil, run, joins, s.QueuedLookups)
}

// TestLookupBatch: lookups that meet in one statement are each answered
// with the order of their own key, (external id, user), and nothing else:
// the same external id of two users gives each user their own order; an
// external id that only another user of the same batch has is not found,
// exactly like a missing one; a request whose principal is not the user it
// asks for does not join the batch (it runs alone, bound to its principal,
// and finds nothing).
func TestLookupBatch(t *testing.T) {
	s, owner, _ := newStore(t)
	s.BatchLookups(64, 1, 0)
	alice, bob, carol := uuid.NewString(), uuid.NewString(), uuid.NewString()
	orders := map[string]order.Order{}
	for _, k := range []struct{ ext, user string }{{"shared", alice}, {"shared", bob}, {"only-alice", alice}, {"a-2", alice}} {
		orders[k.ext+"/"+k.user], _, _ = create(t, s, k.ext, k.user, items("2.50"))
	}
	bobCtx := order.WithPrincipal(context.Background(), order.Principal{UserID: bob})
	calls := []*lookupCall{
		{externalID: "a-2", user: alice},
		{externalID: "shared", user: alice},
		{externalID: "shared", user: bob},
		{externalID: "shared", user: alice}, // twice in one batch
		{externalID: "only-alice", user: alice},
		{externalID: "only-alice", user: carol},        // alice is in the batch; carol has no such order
		{externalID: "only-alice", user: bob},          // nor bob
		{externalID: "missing", user: bob},             // nobody's
		{ctx: bobCtx, externalID: "a-2", user: alice},  // bob's principal asking for alice's order: alone, bound to bob
		{ctx: bobCtx, externalID: "shared", user: bob}, // bob's own: joins
	}
	for i := range 20 { // and a batch of many users
		u := uuid.NewString()
		ext := fmt.Sprintf("many-%d", i)
		orders[ext+"/"+u], _, _ = create(t, s, ext, u, items("1.00"))
		calls = append(calls, &lookupCall{externalID: ext, user: u})
	}
	queuedLookups(t, s, owner, calls)
	for i, c := range calls {
		want, exists := orders[c.externalID+"/"+c.user]
		if _, ok := order.PrincipalFrom(c.ctx); ok && c.user != bob {
			exists = false // bound to bob, alice's order is not there
		}
		switch {
		case !exists:
			if order.ErrorCode(c.err) != order.ENOTFOUND {
				t.Errorf("lookup %d (%s of %s): %+v, %v; want ENOTFOUND", i, c.externalID, c.user, c.o, c.err)
			}
		case c.err != nil || c.o.ID != want.ID || c.o.UserID != c.user || c.o.ExternalID != c.externalID || !order.SameItems(c.o.Items, want.Items):
			t.Errorf("lookup %d (%s of %s): %+v, %v; want order %d", i, c.externalID, c.user, c.o, c.err, want.ID)
		}
	}
	if batches, lookups := s.LookupBatches(); batches != 1 || lookups != int64(len(calls)-2) {
		t.Errorf("LookupBatches() = %d, %d; want 1 batch of the %d queued lookups", batches, lookups, len(calls)-2)
	}
}

// TestLookupBatchPlanIsKeyLookups: the batch statement is planned as one
// index lookup per key even as a generic plan made on a never analyzed
// table of three orders (the API's connections cache their statements),
// where a hash join over a sequential scan of orders would be kept as the
// table grows.
func TestLookupBatchPlanIsKeyLookups(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	user := uuid.New()
	for i := range 3 {
		create(t, s, fmt.Sprintf("p-%d", i), user.String(), items("1.00"))
	}
	conn := explainConn(t, s.apiURL)
	// The settings the batch's transaction sets (SetLookupUsersSQL), here
	// for the session: they must hold when the statement is planned.
	for name, value := range postgres.KeyPlanSettings {
		if !strings.Contains(postgres.SetLookupUsersSQL, fmt.Sprintf("set_config('%s', '%s', true)", name, value)) {
			t.Errorf("the batch's transaction does not set %s = %s: %s", name, value, postgres.SetLookupUsersSQL)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET %s = %s", name, value)); err != nil {
			t.Fatal(err)
		}
	}
	var rec sqlRecorder
	_, _ = db.New(&rec).GetOrdersByExternalIDs(ctx, db.GetOrdersByExternalIDsParams{ExternalIds: []string{"p-0", "p-1"}, UserIds: []uuid.UUID{user, user}})
	plan, raw := wantKeyLookups(t, conn, rec, map[string]string{"orders_external_id_user_id_key": "(external_id)::text = "})
	// Only by that key: not by the user's index through the row-level
	// security condition.
	plan.walk(func(n planNode) {
		if n.IndexName != "" && n.IndexName != "orders_external_id_user_id_key" {
			t.Errorf("%s of %s; want the (external_id, user_id) key only: %s", n.NodeType, n.IndexName, raw)
		}
	})
}

// TestLookupBatchLeaderGone: the batch runs on the goroutine of its first
// lookup, but not on its context: a client that went away while its lookup
// waited in the queue does not fail the other lookups of its batch.
func TestLookupBatchLeaderGone(t *testing.T) {
	s, owner, _ := newStore(t)
	s.BatchLookups(64, 1, 0)
	var calls []*lookupCall
	gone, cancel := context.WithCancel(context.Background())
	want := map[string]order.Order{}
	for i := range 6 {
		u, ext := uuid.NewString(), fmt.Sprintf("g-%d", i)
		want[ext], _, _ = create(t, s, ext, u, items("3.00"))
		c := &lookupCall{externalID: ext, user: u}
		if i == 1 {
			c.ctx = gone // the first in the queue: it leads the batch
		}
		calls = append(calls, c)
	}
	cancel()
	queuedLookups(t, s, owner, calls)
	for i, c := range calls {
		if i == 1 {
			continue // its own answer may be the order or its context's error
		}
		if c.err != nil || c.o.ID != want[c.externalID].ID {
			t.Errorf("lookup %d (%s): %+v, %v; want order %d", i, c.externalID, c.o, c.err, want[c.externalID].ID)
		}
	}
	if batches, lookups := s.LookupBatches(); batches != 1 || lookups != int64(len(calls)-1) {
		t.Errorf("LookupBatches() = %d, %d; want the batch of %d lookups answered by its statement", batches, lookups, len(calls)-1)
	}
}
