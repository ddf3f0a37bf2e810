package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// TestWorkerPlansAreKeyLookups: with the worker's settings
// (postgres.WithKeyPlans: generic plans, made once per connection), each
// statement of the worker's batch is planned as key lookups even when the
// plan is made on a table of three orders that was never analyzed, the
// case where PostgreSQL otherwise picks sequential scans and hash joins
// and keeps them as the table grows: every scan of orders and order_events
// is by an index with an index condition (no sequential scan), and no join
// is a hash or merge join. Run as the worker's role. (MarkFailed, the
// dead-letter path, is left out: with custom plans as with generic ones,
// PostgreSQL reads the order's pending events through the partial index
// of unapplied events, which it estimates to hold next to none.)
// leadingColumn is the first column of each key index the worker's
// statements may use: an index condition must constrain it.
var leadingColumn = map[string]string{
	"orders_pkey":           "(id = ",
	"orders_id_user_id_key": "(id = ",
	"order_events_pkey":     "(order_id = ",
}

func TestWorkerPlansAreKeyLookups(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	user := uuid.NewString()
	for i := range 3 {
		create(t, s, fmt.Sprintf("p-%d", i), user, items("1.00"))
	}
	conn := explainConn(t, s.workerURL, postgres.WithKeyPlans())
	ids, evs, texts := []int64{1, 2}, []int32{0, 0}, []string{"", ""}
	for _, tc := range []struct {
		name string
		run  func(q *db.Queries)
	}{
		{"MarkProcessingMany", func(q *db.Queries) { q.MarkProcessingMany(ctx, db.MarkProcessingManyParams{Ids: ids, EventIds: evs}) }},
		{"LockOrdersWithPendingEvents", func(q *db.Queries) { q.LockOrdersWithPendingEvents(ctx, ids) }},
		{"SaveApplied", func(q *db.Queries) {
			q.SaveApplied(ctx, db.SaveAppliedParams{OrderIds: ids, EventIds: evs, Codes: texts, Reasons: texts, Ids: ids,
				Statuses: []string{"DONE", "DONE"}, AppliedEventIds: evs, Items: []string{"[]", "[]"}, Totals: []string{"1", "1"},
				CancelReasons: texts, FailureReasons: texts, CancelledAts: texts})
		}},
		{"GetEvents", func(q *db.Queries) { q.GetEvents(ctx, db.GetEventsParams{OrderIds: ids, EventIds: evs}) }},
		{"ApplyCreates", func(q *db.Queries) {
			q.ApplyCreates(ctx, db.ApplyCreatesParams{Ids: ids, Items: []string{"[]", "[]"}, Statuses: []string{"DONE", "DONE"},
				Totals: []string{"1", "1"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec sqlRecorder
			tc.run(db.New(&rec))
			wantKeyLookups(t, conn, rec, leadingColumn)
		})
	}
}

// explainConn opens a connection to url with opts in the simple protocol,
// for explainPrepared (PREPARE and EXECUTE by hand), closed with the test.
func explainConn(t *testing.T, url string, opts ...postgres.Option) *pgxpool.Conn {
	t.Helper()
	opts = append(opts, func(c *pgxpool.Config) { c.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol })
	pool, err := postgres.Open(t.Context(), url, 1, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	return conn
}

// wantKeyLookups EXPLAINs the statement rec recorded (explainPrepared) and
// fails t unless its plan reads by key only: no sequential scan, hash or
// merge join, at least one index scan, and each index scan with an index
// condition on its index's leading column (leading: index name → the
// condition's start) where leading names the index. On its second column
// alone (event_id = 0), a key index is read whole as well. It returns the
// plan and its JSON, for further checks.
func wantKeyLookups(t *testing.T, conn *pgxpool.Conn, rec sqlRecorder, leading map[string]string) (planNode, []byte) {
	t.Helper()
	plan, raw := explainPrepared(t, conn, rec)
	scans := 0
	plan.walk(func(n planNode) {
		switch {
		case n.NodeType == "Hash Join" || n.NodeType == "Merge Join" || n.NodeType == "Seq Scan":
			t.Errorf("%s in the plan: %s", n.NodeType, raw)
		case n.IndexName != "":
			scans++
			if n.IndexCond == "" {
				t.Errorf("%s of %s without an index condition: a whole index read: %s", n.NodeType, n.IndexName, raw)
			} else if lead, ok := leading[n.IndexName]; ok && !strings.Contains(n.IndexCond, lead) {
				t.Errorf("%s of %s on %s, not on its leading column %s: %s", n.NodeType, n.IndexName, n.IndexCond, lead, raw)
			}
		}
	})
	if scans == 0 {
		t.Errorf("no index scan in the plan: %s", raw)
	}
	return plan, raw
}
