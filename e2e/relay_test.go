package e2e

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
)

// TestRelayPagination pages a user's orders through the binaries forward
// (first/after) and back (last/before), with every PageInfo field.
func TestRelayPagination(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id } } }`
	var ids []string // oldest first
	for i := range 5 {
		r := e.graphql(create, map[string]any{"in": map[string]any{"externalId": fmt.Sprintf("r-%d", i), "userId": user,
			"items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
		ids = append(ids, decodeField[struct{ Order gqlOrder }](t, r, "createOrder").Order.ID)
	}
	type page struct {
		Edges []struct {
			Cursor string
			Node   struct{ ID string }
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
	}
	list := func(vars map[string]any) page {
		t.Helper()
		vars["u"] = user
		return decodeField[page](t, e.graphql(`query($u: ID!, $first: Int, $after: String, $last: Int, $before: String) {
			orders(userId: $u, first: $first, after: $after, last: $last, before: $before) {
				edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, vars), "orders")
	}
	check := func(name string, p page, want []string, next, previous bool) {
		t.Helper()
		var got []string
		for _, e := range p.Edges {
			got = append(got, e.Node.ID)
		}
		pi := p.PageInfo
		if fmt.Sprint(got) != fmt.Sprint(want) || pi.HasNextPage != next || pi.HasPreviousPage != previous ||
			pi.StartCursor == nil || *pi.StartCursor != p.Edges[0].Cursor || pi.EndCursor == nil || *pi.EndCursor != p.Edges[len(p.Edges)-1].Cursor {
			t.Errorf("%s: got %v %+v; want %v next=%v previous=%v, start and end cursors of the edges", name, got, pi, want, next, previous)
		}
	}
	p1 := list(map[string]any{"first": 2})
	check("first 2", p1, []string{ids[4], ids[3]}, true, false)
	p2 := list(map[string]any{"first": 2, "after": *p1.PageInfo.EndCursor})
	check("first 2 after", p2, []string{ids[2], ids[1]}, true, true)
	back := list(map[string]any{"last": 2, "before": *p2.PageInfo.StartCursor})
	check("last 2 before", back, []string{ids[4], ids[3]}, true, false)
	oldest := list(map[string]any{"last": 2})
	check("last 2", oldest, []string{ids[1], ids[0]}, false, true)
	if r := e.graphql(`query($u: ID!) { orders(userId: $u, first: 1, last: 1) { edges { cursor } } }`, map[string]any{"u": user}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("first with last: got %+v; want BAD_USER_INPUT", r.Errors)
	}
}
