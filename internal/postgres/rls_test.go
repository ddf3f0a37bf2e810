package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/migrations"
)

// rlsFixture is a database with orders of two users, and pools on it as
// each role.
type rlsFixture struct {
	owner, api, worker *pgxpool.Pool
	store              roleStore
	alice, bob         string
}

func newRLSFixture(t *testing.T) *rlsFixture {
	t.Helper()
	urls := pgtest.NewDBs(t)
	open := func(url string) *pgxpool.Pool {
		// One connection: every statement of a test meets the settings
		// the previous ones left on it.
		pool, err := postgres.Open(context.Background(), url, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	f := &rlsFixture{owner: open(urls.Owner), api: open(urls.API), worker: open(urls.Worker),
		alice: uuid.NewString(), bob: uuid.NewString()}
	f.store = roleStore{Store: postgres.NewStore(f.api), worker: postgres.NewStore(f.worker)}
	create(t, f.store, "a-1", f.alice, items("1.00"))
	create(t, f.store, "a-2", f.alice, items("2.00"))
	o, _, _ := create(t, f.store, "b-1", f.bob, items("3.00"))
	appendEvent(t, f.store, o, order.Event{Type: order.EventCancel})
	return f
}

// usersSeen runs sql (selecting user ids) in a transaction of pool that
// first sets the row-level security user to user ("" sets nothing), and
// returns how many rows each user had.
func usersSeen(t *testing.T, pool *pgxpool.Pool, user, sql string) map[string]int {
	t.Helper()
	ctx := context.Background()
	seen := map[string]int{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if user != "" {
			if _, err := tx.Exec(ctx, "SELECT set_config('orderstream.user_id', $1, true)", user); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		for _, id := range ids {
			seen[id.String()]++
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s as %q: %v", sql, user, err)
	}
	return seen
}

// TestRLSWrongQuery runs queries without a user filter, as a bug would, as
// the API's role: they see only the rows of the transaction's user, and
// nothing without one.
func TestRLSWrongQuery(t *testing.T) {
	f := newRLSFixture(t)
	for _, sql := range []string{"SELECT user_id FROM orders", "SELECT user_id FROM order_events"} {
		t.Run(sql, func(t *testing.T) {
			all := usersSeen(t, f.owner, "", sql)
			if len(all) != 2 {
				t.Fatalf("the owner sees the rows of %d users; want 2 (fixture broken)", len(all))
			}
			if got := usersSeen(t, f.api, f.alice, sql); len(got) != 1 || got[f.alice] != all[f.alice] {
				t.Errorf("API as alice: got %v; want only alice's %d rows", got, all[f.alice])
			}
			if got := usersSeen(t, f.api, f.bob, sql); len(got) != 1 || got[f.bob] != all[f.bob] {
				t.Errorf("API as bob: got %v; want only bob's %d rows", got, all[f.bob])
			}
			if got := usersSeen(t, f.api, "", sql); len(got) != 0 {
				t.Errorf("API with no user set: got %v; want no rows (fail closed)", got)
			}
			// The setting of a transaction ends with it: the next one on the
			// same (single) connection sees nothing again.
			if got := usersSeen(t, f.api, "", sql); len(got) != 0 {
				t.Errorf("API after a transaction as bob: got %v; want no rows", got)
			}
			if got := usersSeen(t, f.worker, "", sql); len(got) != 2 {
				t.Errorf("worker: got %v; want the rows of both users", got)
			}
		})
	}
}

// TestRLSStoreSettingEnds checks that the store's per-statement setting does
// not outlive its statement on the pooled connection.
func TestRLSStoreSettingEnds(t *testing.T) {
	f := newRLSFixture(t)
	if _, err := f.store.OrderByExternalID(context.Background(), "a-1", f.alice); err != nil {
		t.Fatal(err)
	}
	var setting *string
	if err := f.api.QueryRow(context.Background(), "SELECT nullif(current_setting('orderstream.user_id', true), '')").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != nil {
		t.Errorf("after a lookup the connection still has orderstream.user_id = %q; want none", *setting)
	}
	if got := usersSeen(t, f.api, "", "SELECT user_id FROM orders"); len(got) != 0 {
		t.Errorf("after a lookup as alice, a query without a user sees %v; want nothing", got)
	}
}

// wantPgCode fails unless err is a PostgreSQL error with code.
func wantPgCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		t.Errorf("%s: got %v; want SQLSTATE %s", what, err, code)
	}
}

// TestRLSWrites checks that the API's role cannot write another user's rows
// or rows without a user set, and has no privileges it does not need.
func TestRLSWrites(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	asUser := func(user, sql string, args ...any) error {
		return pgx.BeginFunc(ctx, f.api, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('orderstream.user_id', $1, true)", user); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		})
	}
	insert := `INSERT INTO orders (external_id, user_id, status, last_event_type, items, total) VALUES ('x', $1, 'NEW', 'create', '[]', 0)`
	wantPgCode(t, "insert for bob as alice", asUser(f.alice, insert, f.bob), "42501")
	_, err := f.api.Exec(ctx, insert, f.alice)
	wantPgCode(t, "insert with no user set", err, "42501")
	if err := asUser(f.alice, insert, f.alice); err != nil {
		t.Errorf("insert for alice as alice: %v", err)
	}

	var bobOrder int64
	if err := f.owner.QueryRow(ctx, "SELECT id FROM orders WHERE user_id = $1", f.bob).Scan(&bobOrder); err != nil {
		t.Fatal(err)
	}
	event := `INSERT INTO order_events (order_id, user_id, event_id, type, payload) VALUES ($1, $2, 9, 'cancel', '{}')`
	wantPgCode(t, "event on bob's order as alice", asUser(f.alice, event, bobOrder, f.bob), "42501")
	wantPgCode(t, "event on bob's order labelled alice's", asUser(f.alice, event, bobOrder, f.alice), "23503")

	// An UPDATE or DELETE of bob's row as alice finds nothing to change.
	if err := asUser(f.alice, "UPDATE orders SET status = 'FAILED' WHERE user_id = $1", f.bob); err != nil {
		t.Errorf("update as alice: %v", err)
	}
	var status string
	if err := f.owner.QueryRow(ctx, "SELECT status FROM orders WHERE id = $1", bobOrder).Scan(&status); err != nil || status == "FAILED" {
		t.Errorf("bob's order after alice's update: %q, %v; want unchanged", status, err)
	}

	for _, c := range []struct{ what, sql string }{
		{"update items", "UPDATE orders SET items = '[]'"},
		{"delete", "DELETE FROM orders"},
		{"delete events", "DELETE FROM order_events"},
		{"update events", "UPDATE order_events SET applied_at = now()"},
		{"disable RLS", "ALTER TABLE orders DISABLE ROW LEVEL SECURITY"},
		{"no force RLS", "ALTER TABLE orders NO FORCE ROW LEVEL SECURITY"},
		{"drop policy", "DROP POLICY orders_own_user ON orders"},
		{"truncate", "TRUNCATE orders CASCADE"},
		{"become the worker", "SET ROLE orderstream_worker"},
		{"become the owner", "SET ROLE postgres"},
	} {
		err := asUser(f.alice, c.sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "42P01") {
			t.Errorf("%s (%s) as the API: got %v; want permission denied", c.what, c.sql, err)
		}
	}

	// row_security = off makes a query that policies would filter fail: it
	// never shows more rows.
	err = pgx.BeginFunc(ctx, f.api, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL row_security = off"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT count(*) FROM orders")
		return err
	})
	wantPgCode(t, "row_security = off", err, "42501")

	wantPgCode(t, "worker inserts", func() error { _, err := f.worker.Exec(ctx, insert, f.alice); return err }(), "42501")
	wantPgCode(t, "worker deletes", func() error { _, err := f.worker.Exec(ctx, "DELETE FROM orders"); return err }(), "42501")
	wantPgCode(t, "worker disables RLS", func() error {
		_, err := f.worker.Exec(ctx, "ALTER TABLE orders DISABLE ROW LEVEL SECURITY")
		return err
	}(), "42501")
}

// TestRLSRoles checks what the roles are: the API's and the worker's are
// neither superusers nor owners, and row-level security binds them.
func TestRLSRoles(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	for name, pool := range map[string]*pgxpool.Pool{"API": f.api, "worker": f.worker} {
		rc, err := postgres.CheckRole(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if !rc.Enforced() || rc.Superuser || rc.Owner || rc.BypassRLS {
			t.Errorf("%s role: got %+v; want RLS enforced (no superuser, owner, bypassrls)", name, rc)
		}
	}
	rc, err := postgres.CheckRole(ctx, f.owner)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Enforced() || !rc.Superuser {
		t.Errorf("owner: got %+v; want a superuser, not enforced", rc)
	}
	var forced, enabled bool
	for _, table := range []string{"orders", "order_events"} {
		if err := f.owner.QueryRow(ctx, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", table).Scan(&enabled, &forced); err != nil {
			t.Fatal(err)
		}
		if !enabled || !forced {
			t.Errorf("%s: row security enabled %v forced %v; want both", table, enabled, forced)
		}
	}
}

// TestRLSPrincipal checks the store's half of the second line: a non-admin
// principal's own user is what the database sees, so a user id mixed up
// above the store still cannot reach another user's order.
func TestRLSPrincipal(t *testing.T) {
	f := newRLSFixture(t)
	bobCtx := order.WithPrincipal(context.Background(), order.Principal{UserID: f.bob})
	if _, err := f.store.OrderByExternalID(bobCtx, "a-1", f.alice); order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("lookup of alice's order with bob's principal: got %v; want NOT_FOUND", err)
	}
	if got, err := f.store.ListOrders(bobCtx, order.ListQuery{UserID: f.alice, Limit: 10}); err != nil || len(got) != 0 {
		t.Errorf("list of alice's orders with bob's principal: got %d orders, %v; want none", len(got), err)
	}
	_, _, err := f.store.AppendEvent(bobCtx, "a-1", f.alice, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventCancel}, nil
	})
	if order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("cancel of alice's order with bob's principal: got %v; want NOT_FOUND", err)
	}
	total, _ := order.Total(items("1.00"))
	if _, _, _, err := f.store.CreateOrder(bobCtx, order.CreateInput{ExternalID: "forged", UserID: f.alice, Items: items("1.00")}, total); err == nil {
		t.Error("create for alice with bob's principal: got no error; want a refusal")
	}
	adminCtx := order.WithPrincipal(context.Background(), order.Principal{UserID: f.bob, Admin: true})
	if o, err := f.store.OrderByExternalID(adminCtx, "a-1", f.alice); err != nil || o.UserID != f.alice {
		t.Errorf("admin lookup of alice's order: got %+v, %v; want it", o, err)
	}
}

// TestRLSRecoveryClaim checks that the API's role claims due events of
// every user through claim_due_events, its only way across users.
func TestRLSRecoveryClaim(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	if _, err := f.owner.Exec(ctx, "UPDATE order_events SET next_publish_at = now() - interval '1 minute'"); err != nil {
		t.Fatal(err)
	}
	evs, err := f.store.ClaimDueEvents(ctx, 10, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]int{}
	for _, ev := range evs {
		users[ev.UserID]++
	}
	if len(evs) != 4 || users[f.alice] != 2 || users[f.bob] != 2 {
		t.Errorf("claimed %d events by user %v; want alice's 2 and bob's 2", len(evs), users)
	}
	if again, err := f.store.ClaimDueEvents(ctx, 10, time.Minute, time.Minute); err != nil || len(again) != 0 {
		t.Errorf("second claim: got %d, %v; want none (pushed back)", len(again), err)
	}
}

// TestRLSMarkUnpublishable: the API's role marks the order of a claimed
// event FAILED through fail_unpublishable_event, across users, and only
// for an event the recovery loop has claimed.
func TestRLSMarkUnpublishable(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	a1, err := f.store.OrderByExternalID(order.WithPrincipal(ctx, order.Principal{UserID: f.alice}), "a-1", f.alice)
	if err != nil {
		t.Fatal(err)
	}
	unclaimed := order.Event{OrderID: a1.ID, EventID: 0}
	if err := f.store.MarkUnpublishable(ctx, unclaimed, "too large"); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := f.owner.QueryRow(ctx, "SELECT status FROM orders WHERE id = $1", a1.ID).Scan(&status); err != nil || status != "NEW" {
		t.Fatalf("unclaimed event: order is %s, %v; want NEW (nothing marked)", status, err)
	}
	if _, err := f.owner.Exec(ctx, "UPDATE order_events SET next_publish_at = now() - interval '1 minute'"); err != nil {
		t.Fatal(err)
	}
	evs, err := f.store.ClaimDueEvents(ctx, 10, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.OrderID == a1.ID {
			if err := f.store.MarkUnpublishable(ctx, ev, "Kafka refuses the message"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var reason string
	var pending int
	if err := f.owner.QueryRow(ctx, `SELECT o.status, o.failure_reason, (SELECT count(*) FROM order_events e WHERE e.order_id = o.id AND e.applied_at IS NULL)
		FROM orders o WHERE o.id = $1`, a1.ID).Scan(&status, &reason, &pending); err != nil {
		t.Fatal(err)
	}
	if status != "FAILED" || reason != "Kafka refuses the message" || pending != 0 {
		t.Errorf("claimed event: order %s %q with %d pending events; want FAILED with the reason, none pending", status, reason, pending)
	}
}

// migrator returns golang-migrate over the embedded migrations, on the
// database of owner (its tables' owner), to take them down and up.
func migrator(t *testing.T, owner *pgxpool.Pool) *migrate.Migrate {
	t.Helper()
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	cfg := owner.Config().ConnConfig
	m, err := migrate.NewWithSourceInstance("iofs", src, fmt.Sprintf("pgx5://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, cfg.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRLSMigrationDown takes migration 000004 back and applies it again on
// a database with orders: the down step restores the old schema (no RLS,
// no events' user_id), and the up step backfills user_id.
func TestRLSMigrationDown(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	m := migrator(t, f.owner)
	if err := m.Migrate(3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	var rls bool
	var cols int
	if err := f.owner.QueryRow(ctx, `SELECT (SELECT relrowsecurity FROM pg_class WHERE oid = 'orders'::regclass),
  (SELECT count(*) FROM information_schema.columns WHERE table_name = 'order_events' AND column_name = 'user_id')`).Scan(&rls, &cols); err != nil {
		t.Fatal(err)
	}
	if rls || cols != 0 {
		t.Errorf("after down: RLS %v, order_events.user_id columns %d; want off and none", rls, cols)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if n := count(t, f.owner, "SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE e.user_id = o.user_id"); n != 4 {
		t.Errorf("after up: %d events with their order's user; want all 4", n)
	}
	if got := usersSeen(t, f.api, f.alice, "SELECT user_id FROM order_events"); len(got) != 1 || got[f.alice] != 2 {
		t.Errorf("after up, API as alice sees events %v; want only alice's 2", got)
	}
}

// TestRLSSettingsOncePerStatement checks that the policies read and cast
// the row-level security settings once per statement (InitPlans, migration
// 000007), not once per row: a batch of n creates used to parse its n-user
// array for each of its rows, three times. The rows allowed stay those of
// the setting.
func TestRLSSettingsOncePerStatement(t *testing.T) {
	f := newRLSFixture(t)
	ctx := context.Background()
	// EXPLAIN shows the USING side; the WITH CHECK side, which every
	// created row passes, is read from the catalog: each read of a setting
	// must be inside a scalar subquery.
	rows, err := f.owner.Query(ctx, `SELECT policyname, qual, with_check FROM pg_policies
WHERE policyname IN ('orders_own_user', 'order_events_own_user')`)
	if err != nil {
		t.Fatal(err)
	}
	policies := 0
	for rows.Next() {
		var name, qual, check string
		if err := rows.Scan(&name, &qual, &check); err != nil {
			t.Fatal(err)
		}
		policies++
		for side, expr := range map[string]string{"USING": qual, "WITH CHECK": check} {
			if reads, inSubqueries := strings.Count(expr, "current_setting("), strings.Count(expr, "SELECT (NULLIF(current_setting("); reads != 2 || inSubqueries != reads {
				t.Errorf("%s %s reads the settings %d times, %d of them in a scalar subquery; want 2 and 2: %s", name, side, reads, inSubqueries, expr)
			}
		}
	}
	if err := rows.Err(); err != nil || policies != 2 {
		t.Fatalf("found %d of the 2 policies: %v", policies, err)
	}
	for _, table := range []string{"orders", "order_events"} {
		err := pgx.BeginFunc(ctx, f.api, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('orderstream.user_ids', $1::uuid[]::text, true)", []string{f.alice, f.bob}); err != nil {
				return err
			}
			var plan []struct{ Plan map[string]any }
			if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT user_id FROM "+table).Scan(&plan); err != nil {
				return err
			}
			if len(plan) != 1 {
				return fmt.Errorf("EXPLAIN gave %d plans", len(plan))
			}
			initPlans := 0
			var walk func(node map[string]any)
			walk = func(node map[string]any) {
				if node["Parent Relationship"] == "InitPlan" {
					initPlans++
					return
				}
				if filter, _ := node["Filter"].(string); strings.Contains(filter, "current_setting") {
					t.Errorf("%s: %s evaluates a setting per row: Filter %s", table, node["Node Type"], filter)
				}
				children, _ := node["Plans"].([]any)
				for _, c := range children {
					if m, ok := c.(map[string]any); ok {
						walk(m)
					}
				}
			}
			walk(plan[0].Plan)
			if initPlans == 0 {
				t.Errorf("%s: no InitPlan in the plan %v; want the settings read once per statement", table, plan[0].Plan)
			}
			rows, err := tx.Query(ctx, "SELECT user_id FROM "+table)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return err
			}
			seen := map[string]int{}
			for _, id := range ids {
				seen[id.String()]++
			}
			want := map[string]map[string]int{"orders": {f.alice: 2, f.bob: 1}, "order_events": {f.alice: 2, f.bob: 2}}[table]
			if !maps.Equal(seen, want) {
				t.Errorf("%s with user_ids alice and bob: saw %v; want %v", table, seen, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRLSGenericPlanRereadsTheSettings reuses one prepared statement on one
// connection, with generic plans forced, across transactions of different
// users: the once-per-statement settings (migration 000007) are read at
// each execution, never kept from the execution that made the plan.
func TestRLSGenericPlanRereadsTheSettings(t *testing.T) {
	f := newRLSFixture(t)
	if _, err := f.api.Exec(context.Background(), "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{f.alice: {f.alice: 2}, f.bob: {f.bob: 1}}
	for i := range 12 {
		user := []string{f.alice, f.bob}[i%2]
		if got := usersSeen(t, f.api, user, "SELECT user_id FROM orders"); !maps.Equal(got, want[user]) {
			t.Fatalf("execution %d as %s: saw %v; want %v", i, user, got, want[user])
		}
	}
	if got := usersSeen(t, f.api, "", "SELECT user_id FROM orders"); len(got) != 0 {
		t.Errorf("without a user after %s's executions: saw %v; want nothing", f.bob, got)
	}
}
