package order_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

// listStore keeps one user's orders and answers ListOrders by its
// contract (the real store's tests check that PostgreSQL does the same);
// the other methods are not used by List.
type listStore struct {
	order.Store
	orders  []order.Order // oldest first
	queries []order.ListQuery
}

func (s *listStore) ListOrders(ctx context.Context, q order.ListQuery) ([]order.Order, error) {
	s.queries = append(s.queries, q)
	less := func(o order.Order, c order.Cursor) bool {
		return o.CreatedAt.Before(c.CreatedAt) || o.CreatedAt.Equal(c.CreatedAt) && o.ID < c.ID
	}
	greater := func(o order.Order, c order.Cursor) bool {
		return o.CreatedAt.After(c.CreatedAt) || o.CreatedAt.Equal(c.CreatedAt) && o.ID > c.ID
	}
	var in []order.Order
	for _, o := range s.orders {
		if o.UserID == q.UserID && (q.Status == "" || o.Status == q.Status) &&
			(q.After == nil || less(o, *q.After)) && (q.Before == nil || greater(o, *q.Before)) {
			in = append(in, o)
		}
	}
	if !q.Backward {
		slices.Reverse(in)
	}
	return in[:min(len(in), q.Limit)], nil
}

const listUser = "3f8e3ad4-3b8e-4f4c-9b8f-0d7c43b0a9a1"

// newListService has orders 1 … n of listUser, one second apart, with
// orders 1 and 2 at the same instant (the id breaks the tie); every third
// order is CANCELLED.
func newListService(n int) (*order.Service, *listStore) {
	st := &listStore{}
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		o := order.Order{ID: int64(i), UserID: listUser, Status: order.StatusDone, CreatedAt: at.Add(time.Duration(max(i-1, 1)) * time.Second)}
		if i%3 == 0 {
			o.Status = order.StatusCancelled
		}
		st.orders = append(st.orders, o)
	}
	return order.NewService(st, nil, slog.New(slog.DiscardHandler)), st
}

func ids(p order.Page) []int64 {
	var out []int64
	for _, o := range p.Orders {
		out = append(out, o.ID)
	}
	return out
}

func cursorOf(o order.Order) string { return order.Cursor{CreatedAt: o.CreatedAt, ID: o.ID}.String() }

func intp(n int) *int { return &n }

// TestListBothWays pages through 7 orders forward with first/after and
// back with last/before, checking the pages and both flags.
func TestListBothWays(t *testing.T) {
	ctx := context.Background()
	svc, _ := newListService(7)
	type want struct {
		ids            []int64
		next, previous bool
	}
	check := func(t *testing.T, name string, p order.Page, w want) {
		t.Helper()
		if fmt.Sprint(ids(p)) != fmt.Sprint(w.ids) || p.HasNext != w.next || p.HasPrevious != w.previous {
			t.Errorf("%s: got %v next=%v previous=%v; want %v next=%v previous=%v", name, ids(p), p.HasNext, p.HasPrevious, w.ids, w.next, w.previous)
		}
	}
	list := func(t *testing.T, args order.PageArgs) order.Page {
		t.Helper()
		p, err := svc.List(ctx, listUser, "", args)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Forward, 3 at a time: newest first.
	p1 := list(t, order.PageArgs{First: intp(3)})
	check(t, "forward 1", p1, want{[]int64{7, 6, 5}, true, false})
	p2 := list(t, order.PageArgs{First: intp(3), After: cursorOf(p1.Orders[2])})
	check(t, "forward 2", p2, want{[]int64{4, 3, 2}, true, true})
	p3 := list(t, order.PageArgs{First: intp(3), After: cursorOf(p2.Orders[2])})
	check(t, "forward 3", p3, want{[]int64{1}, false, true})

	// Backward from the end: the oldest first page, then towards the newest.
	b1 := list(t, order.PageArgs{Last: intp(3)})
	check(t, "backward 1", b1, want{[]int64{3, 2, 1}, false, true})
	b2 := list(t, order.PageArgs{Last: intp(3), Before: cursorOf(b1.Orders[0])})
	check(t, "backward 2", b2, want{[]int64{6, 5, 4}, true, true})
	b3 := list(t, order.PageArgs{Last: intp(3), Before: cursorOf(b2.Orders[0])})
	check(t, "backward 3", b3, want{[]int64{7}, true, false})

	// Back from a forward page: last/before its startCursor.
	check(t, "back from forward 2", list(t, order.PageArgs{Last: intp(3), Before: cursorOf(p2.Orders[0])}), want{[]int64{7, 6, 5}, true, false})
	// Both bounds: the orders between two cursors (7 … 2, exclusive).
	check(t, "between", list(t, order.PageArgs{First: intp(10), After: cursorOf(p1.Orders[0]), Before: cursorOf(p2.Orders[2])}),
		want{[]int64{6, 5, 4, 3}, false, true})
	// Default: the DefaultPageSize newest.
	check(t, "default", list(t, order.PageArgs{}), want{[]int64{7, 6, 5, 4, 3, 2, 1}, false, false})
}

// TestListFilteredFlags: with a status filter, the flags describe the
// filtered list: no previous page when no CANCELLED order precedes the
// cursor, even though other orders do.
func TestListFilteredFlags(t *testing.T) {
	ctx := context.Background()
	svc, st := newListService(7) // CANCELLED: 6 and 3
	p, err := svc.List(ctx, listUser, order.StatusCancelled, order.PageArgs{First: intp(1), After: cursorOf(st.orders[6])})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(p)) != "[6]" || !p.HasNext || p.HasPrevious {
		t.Errorf("got %v next=%v previous=%v; want [6] next=true previous=false", ids(p), p.HasNext, p.HasPrevious)
	}
	p, err = svc.List(ctx, listUser, order.StatusCancelled, order.PageArgs{Last: intp(5), Before: cursorOf(st.orders[4])})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(p)) != "[6]" || p.HasNext != true || p.HasPrevious {
		t.Errorf("backward: got %v next=%v previous=%v; want [6] next=true (3) previous=false", ids(p), p.HasNext, p.HasPrevious)
	}
}

// TestListQueries: the first page costs one query; a page from a cursor
// one more, a LIMIT 1 probe beyond the cursor.
func TestListQueries(t *testing.T) {
	ctx := context.Background()
	svc, st := newListService(3)
	if _, err := svc.List(ctx, listUser, "", order.PageArgs{First: intp(2)}); err != nil || len(st.queries) != 1 || st.queries[0].Limit != 3 {
		t.Fatalf("first page: %v, queries %+v; want one query with limit 3", err, st.queries)
	}
	st.queries = nil
	if _, err := svc.List(ctx, listUser, "", order.PageArgs{First: intp(2), After: cursorOf(st.orders[2])}); err != nil || len(st.queries) != 2 || st.queries[1].Limit != 1 {
		t.Fatalf("page after a cursor: %v, queries %+v; want the page and a probe of limit 1", err, st.queries)
	}
}

func TestListInvalid(t *testing.T) {
	ctx := context.Background()
	svc, _ := newListService(1)
	good := order.Cursor{CreatedAt: time.Now(), ID: 1}.String()
	for _, tc := range []struct {
		name   string
		status order.Status
		args   order.PageArgs
		field  string
	}{
		{"FirstZero", "", order.PageArgs{First: intp(0)}, "first"},
		{"FirstTooBig", "", order.PageArgs{First: intp(101)}, "first"},
		{"LastZero", "", order.PageArgs{Last: intp(0)}, "last"},
		{"LastTooBig", "", order.PageArgs{Last: intp(101)}, "last"},
		{"FirstAndLast", "", order.PageArgs{First: intp(1), Last: intp(1)}, "last"},
		{"BadAfter", "", order.PageArgs{After: "garbage!"}, "after"},
		{"BadBefore", "", order.PageArgs{Before: "garbage!", After: good}, "before"},
		{"MaxIDBefore", "", order.PageArgs{Before: order.Cursor{CreatedAt: time.Now(), ID: 1<<63 - 1}.String()}, "before"},
		{"BadStatus", "NOPE", order.PageArgs{}, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.List(ctx, listUser, tc.status, tc.args)
			var oe *order.Error
			if order.ErrorCode(err) != order.EINVALID || !errors.As(err, &oe) || oe.Field != tc.field {
				t.Errorf("got %v; want BAD_USER_INPUT on %s", err, tc.field)
			}
		})
	}
}
