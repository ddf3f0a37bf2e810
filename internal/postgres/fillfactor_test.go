package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
)

// TestWorkerUpdatesStayOnTheirPage: the worker updates each order twice
// (PROCESSING, then DONE). Migration 000008 leaves room on the pages of
// orders, so these updates keep the row on the page it was inserted into
// (a HOT update, which adds no index entry) instead of moving it to
// another page with a new entry in each of the four indexes. With the
// default fillfactor (000008 down) most rows of the full pages move.
func TestWorkerUpdatesStayOnTheirPage(t *testing.T) {
	ctx := context.Background()
	s, owner, _ := newStore(t)
	user := uuid.NewString()
	const n = 300 // several pages
	var keys []order.EventKey
	for i := range n {
		o, _, _ := create(t, s, fmt.Sprintf("page-%d", i), user, items("1.00", "2.00"))
		keys = append(keys, order.EventKey{OrderID: o.ID})
	}
	pages := func() map[int64]int64 {
		rows, err := owner.Query(ctx, "select id, (ctid::text::point)[0]::bigint from orders where user_id = $1", user)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[int64]int64{}
		for rows.Next() {
			var id, page int64
			if err := rows.Scan(&id, &page); err != nil {
				t.Fatal(err)
			}
			m[id] = page
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := pages()
	if len(before) != n {
		t.Fatalf("got %d orders; want %d", len(before), n)
	}
	// Batches of 8, about the size of the worker's merged batches at 64
	// requests in flight (pg_stat_statements: 6.4 orders per batch).
	for i := 0; i < n; i += 8 {
		if _, err := s.process(ctx, keys[i:min(i+8, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	moved := 0
	for id, page := range pages() {
		if page != before[id] {
			moved++
		}
	}
	var status string
	if err := owner.QueryRow(ctx, "select string_agg(distinct status, ',') from orders where user_id = $1", user).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != string(order.StatusDone) {
		t.Fatalf("orders are %s; want all DONE", status)
	}
	if moved > n/10 {
		t.Errorf("%d of %d orders moved to another page when the worker updated them; want at most %d", moved, n, n/10)
	}
	t.Logf("%d of %d orders moved to another page", moved, n)
}
