package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
	"github.com/orderstream/orderstream/migrations"
)

// TestListOrdersBothWays pages a user's orders forward (newest first,
// older than After) and backward (oldest first, newer than Before), with
// both bounds, and with orders created in one transaction (same
// created_at: the id breaks the tie).
func TestListOrdersBothWays(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	var ids []int64
	for i := range 5 {
		o, _, _ := create(t, s, fmt.Sprintf("a-%d", i), alice, items("1.00"))
		ids = append(ids, o.ID)
	}
	create(t, s, "b-0", bob, items("1.00"))
	// Orders 1 and 2 (ids[1], ids[2]) at the same instant.
	if _, err := owner.Exec(ctx, "UPDATE orders SET created_at = (SELECT created_at FROM orders WHERE id = $1) WHERE id = $2", ids[1], ids[2]); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListOrders(ctx, order.ListQuery{UserID: alice, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	cur := func(i int) *order.Cursor {
		for _, o := range all {
			if o.ID == ids[i] {
				return &order.Cursor{CreatedAt: o.CreatedAt, ID: o.ID}
			}
		}
		t.Fatalf("order %d not listed", ids[i])
		return nil
	}
	got := func(q order.ListQuery) string {
		t.Helper()
		q.UserID = alice
		orders, err := s.ListOrders(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, o := range orders {
			out = append(out, o.ID)
		}
		return fmt.Sprint(out)
	}
	want := func(is ...int) string {
		var out []int64
		for _, i := range is {
			out = append(out, ids[i])
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		name string
		q    order.ListQuery
		want string
	}{
		{"Newest", order.ListQuery{Limit: 2}, want(4, 3)},
		{"After", order.ListQuery{Limit: 2, After: cur(3)}, want(2, 1)},
		{"AfterTie", order.ListQuery{Limit: 2, After: cur(2)}, want(1, 0)},
		{"Oldest", order.ListQuery{Limit: 2, Backward: true}, want(0, 1)},
		{"Before", order.ListQuery{Limit: 2, Backward: true, Before: cur(1)}, want(2, 3)},
		{"BeforeTie", order.ListQuery{Limit: 1, Backward: true, Before: cur(1)}, want(2)},
		{"Between", order.ListQuery{Limit: 10, After: cur(4), Before: cur(0)}, want(3, 2, 1)},
		{"BetweenBackward", order.ListQuery{Limit: 10, Backward: true, After: cur(4), Before: cur(0)}, want(1, 2, 3)},
		{"Status", order.ListQuery{Limit: 10, Status: order.StatusCancelled}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(tc.q); g != tc.want {
				t.Errorf("got ids %s; want %s", g, tc.want)
			}
		})
	}
	if len(all) != 5 {
		t.Errorf("alice's orders: got %d; want 5 (not bob's)", len(all))
	}
}

// sqlRecorder is a db.DBTX that records the SQL and arguments sqlc sends
// instead of running them, so that the test can EXPLAIN the very query.
type sqlRecorder struct {
	sql  string
	args []any
}

var errRecorded = errors.New("recorded")

func (r *sqlRecorder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.sql, r.args = sql, args
	return pgconn.CommandTag{}, errRecorded
}

func (r *sqlRecorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql, r.args = sql, args
	return nil, errRecorded
}

func (r *sqlRecorder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r.sql, r.args = sql, args
	return nil
}

// planNode is the part of EXPLAIN (FORMAT JSON) that the tests read.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Direction string     `json:"Scan Direction"`
	IndexName string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Filter    string     `json:"Filter"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// TestListOrdersUsesIndexBothWays: forward and backward, with cursors or
// without, in custom and in generic plans (pgx prepares the statements
// and PostgreSQL may switch to a generic plan after five runs), both
// pages are an index scan of orders_user_id_created_at_id_idx bounded by
// the keyset in its Index Cond, with no sort: the cost of a page does not
// grow with the number of orders before it. Run as the API's role, so
// that the row-level security policy is part of the plan.
func TestListOrdersUsesIndexBothWays(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	alice := uuid.New()
	// 20,000 orders, half of them alice's, the others of 100 users: a user
	// with many orders, where a page must not cost a scan of them all.
	if _, err := owner.Exec(ctx, `
		INSERT INTO orders (external_id, user_id, status, last_event_type, items, total, created_at)
		SELECT 'x-' || g, CASE WHEN g % 2 = 0 THEN $1::uuid ELSE md5((g % 100)::text)::uuid END,
		       'DONE', 'create', '[]', 1, now() - g * interval '1 second'
		FROM generate_series(1, 20000) AS g`, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(ctx, "ANALYZE orders"); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(s.apiURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // PREPARE and EXECUTE by hand
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT set_config($1, $2, false)", migrations.UserSetting, alice.String()); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	cursor := func(id int64) (*time.Time, pgtype.Int8) { return &at, pgtype.Int8{Int64: id, Valid: true} }
	type query struct {
		name     string
		backward bool
		p        db.ListOrdersParams
	}
	var qs []query
	for _, backward := range []bool{false, true} {
		withAfter := db.ListOrdersParams{UserID: alice, Lim: 21}
		withAfter.AfterCreatedAt, withAfter.AfterID = cursor(5000)
		withBefore := db.ListOrdersParams{UserID: alice, Lim: 21}
		withBefore.BeforeCreatedAt, withBefore.BeforeID = cursor(5000)
		status := db.ListOrdersParams{UserID: alice, Lim: 21, Status: pgtype.Text{String: "DONE", Valid: true}}
		status.AfterCreatedAt, status.AfterID = cursor(5000)
		for _, q := range []query{{"NoCursor", backward, db.ListOrdersParams{UserID: alice, Lim: 21}},
			{"After", backward, withAfter}, {"Before", backward, withBefore}, {"StatusAfter", backward, status}} {
			if backward {
				q.name = "Backward" + q.name
			}
			qs = append(qs, q)
		}
	}
	for _, q := range qs {
		for _, mode := range []string{"auto", "force_generic_plan"} {
			t.Run(q.name+"/"+mode, func(t *testing.T) {
				var rec sqlRecorder
				if q.backward {
					_, _ = db.New(&rec).ListOrdersBackward(ctx, db.ListOrdersBackwardParams(q.p))
				} else {
					_, _ = db.New(&rec).ListOrders(ctx, q.p)
				}
				if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
					t.Fatal(err)
				}
				plan, raw := explainPrepared(t, conn, rec)
				var scans []planNode
				sorted := false
				plan.walk(func(n planNode) {
					switch {
					case strings.Contains(n.NodeType, "Sort"):
						sorted = true
					case strings.Contains(n.NodeType, "Scan"):
						scans = append(scans, n)
					}
				})
				wantDir := "Forward"
				if q.backward {
					wantDir = "Backward"
				}
				if len(scans) != 1 || sorted {
					t.Fatalf("got %d scans, sort %v; want one index scan, no sort: %s", len(scans), sorted, raw)
				}
				sc := scans[0]
				if sc.NodeType != "Index Scan" || sc.IndexName != "orders_user_id_created_at_id_idx" || sc.Direction != wantDir ||
					!strings.Contains(sc.IndexCond, "ROW(created_at, id) <") || !strings.Contains(sc.IndexCond, "ROW(created_at, id) >") ||
					strings.Contains(sc.Filter, "created_at") {
					t.Errorf("got %s %s on %s, index cond %q, filter %q; want Index Scan %s on orders_user_id_created_at_id_idx with both keyset bounds in the index cond",
						sc.NodeType, sc.Direction, sc.IndexName, sc.IndexCond, sc.Filter, wantDir)
				}
			})
		}
	}
}

// explainPrepared PREPAREs the statement rec recorded on conn (a
// connection in the simple protocol, in the plan_cache_mode the caller
// set) and EXPLAINs its EXECUTE with rec's arguments as literals, in a
// transaction that is rolled back: EXPLAIN of a data-modifying statement
// does not run it, but stay safe. It returns the plan and its JSON.
func explainPrepared(t *testing.T, conn *pgxpool.Conn, rec sqlRecorder) (planNode, []byte) {
	t.Helper()
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "PREPARE explained AS "+rec.sql); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE explained") //nolint:errcheck // the connection ends with the test
	var lits []string
	for _, a := range rec.args {
		lits = append(lits, literal(t, a))
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	var raw []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE explained("+strings.Join(lits, ", ")+")").Scan(&raw); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("decode plan %s: %v", raw, err)
	}
	return plans[0].Plan, raw
}

// literal writes a query argument as an SQL literal for EXECUTE.
func literal(t *testing.T, a any) string {
	t.Helper()
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := a.(type) {
	case int64:
		return fmt.Sprint(v)
	case string:
		return quote(v)
	case []int64, []int32:
		return quote(strings.NewReplacer("[", "{", "]", "}", " ", ",").Replace(fmt.Sprint(v)))
	case []string:
		var els []string
		for _, s := range v {
			els = append(els, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)+`"`)
		}
		return quote("{" + strings.Join(els, ",") + "}")
	case uuid.UUID:
		return "'" + v.String() + "'"
	case []uuid.UUID:
		var els []string
		for _, u := range v {
			els = append(els, u.String())
		}
		return quote("{" + strings.Join(els, ",") + "}")
	case pgtype.Text:
		if !v.Valid {
			return "NULL"
		}
		return quote(v.String)
	case pgtype.Int8:
		if !v.Valid {
			return "NULL"
		}
		return fmt.Sprint(v.Int64)
	case *time.Time:
		if v == nil {
			return "NULL"
		}
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'"
	case int32:
		return fmt.Sprint(v)
	}
	t.Fatalf("no literal for %T", a)
	return ""
}
