package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestIntrospectionTools runs schema tools against the binaries with
// authentication on and introspection on (the development default):
// graphql-js's standard introspection queries, GraphQL Code Generator from
// the live endpoint with tsc compiling its output, and graphql-inspector
// diff of graph/baseline.graphql against the endpoint (clients/tools.test.mjs).
func TestIntrospectionTools(t *testing.T) {
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "RATE_LIMIT_RPS=0")
	tok := mint(t, e2eSecret, uuid.NewString(), "", time.Hour)
	baseline, err := filepath.Abs("../graph/baseline.graphql")
	if err != nil {
		t.Fatal(err)
	}
	nodeTest(t, "tools.test.mjs", "GRAPHQL_URL="+e.base+"/graphql", "TOKEN="+tok, "BASELINE="+baseline)
}

// TestQueryCost sends the costly queries of docs/SECURITY.md to the real
// binaries: each is refused with its code, the response ceiling holds on
// real data, and neither an exact price literal nor a two-field
// subscription reaches an internal error.
func TestQueryCost(t *testing.T) {
	e := newInfra(t)
	e.startWorker()
	var api *proc
	e.base, api = e.startAPI("api")
	user := uuid.NewString()

	bomb := "{ ...F0 }"
	for i := range 30 {
		bomb += fmt.Sprintf(" fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	bomb += " fragment F30 on Query { __typename }"
	page := func(first int) string {
		return fmt.Sprintf(`orders(userId: "%s", first: %d) { edges { node { items { name } } } }`, user, first)
	}
	var lists strings.Builder
	lists.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&lists, " p%d: %s", i, page(100))
	}
	lists.WriteString(" }")
	field := `orderUpdated(externalId: "x", userId: "` + user + `") { status }`
	for _, tc := range []struct{ name, query, code string }{
		{"FragmentBomb30", bomb, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"Typename8000", "{" + strings.Repeat(" __typename", 8000) + " }", "QUERY_TOO_LARGE"},
		{"NestedLists40", lists.String(), "COMPLEXITY_LIMIT_EXCEEDED"},
		{"InlinePriceTooPrecise", `mutation { createOrder(input: {externalId: "exact", userId: "` + user +
			`", items: [{name: "A", quantity: 1, price: 0.009999999999999999999}]}) { created } }`, "BAD_USER_INPUT"},
		{"SubscriptionTwoRoots", "subscription { a: " + field + " b: " + field + " }", "GRAPHQL_VALIDATION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.graphql(tc.query, nil); r.code() != tc.code {
				t.Errorf("got %+v; want %s", r.Errors, tc.code)
			}
		})
	}
	if got := decodeField[*gqlOrder](t, e.graphql(`{ orderByExternalId(externalId: "exact", userId: "`+user+`") { id } }`, nil), "orderByExternalId"); got != nil {
		t.Errorf("the refused price was stored: %+v", got)
	}

	// 9 orders of 1000 items named with 500 characters: 4.5 MB of names.
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status } } }`
	items := make([]any, 1000)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprintf("%04d", i) + strings.Repeat("n", 496), "quantity": 1, "price": "1.00"}
	}
	for i := range 9 {
		decodeField[struct{ Order gqlOrder }](t, e.graphql(create, map[string]any{"in": map[string]any{
			"externalId": fmt.Sprintf("big-%d", i), "userId": user, "items": items}}), "createOrder")
	}
	if r := e.graphql("{ "+page(9)+" }", nil); r.code() != "RESPONSE_TOO_LARGE" {
		t.Errorf("9 orders of 500 KB: got %+v; want RESPONSE_TOO_LARGE", r.Errors)
	}
	type connection struct {
		Edges []struct{ Node gqlOrder }
	}
	conn := decodeField[connection](t, e.graphql("{ "+page(7)+" }", nil), "orders")
	if len(conn.Edges) != 7 || len(conn.Edges[0].Node.Items) != 1000 {
		t.Errorf("7 orders of 500 KB: got %d orders; want 7 of 1000 items", len(conn.Edges))
	}
	if out := api.output(); strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("the API logged errors:\n%s", grepLines(out, `"level":"ERROR"`))
	}
}
