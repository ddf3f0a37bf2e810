package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestHostileInput sends invalid and abusive inputs and checks the exact
// error code, and that no order was created or changed.
func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id eventId status } } }`
	item := map[string]any{"name": "A", "quantity": 1, "price": "1.00"}
	// One real order, to check that illegal transitions change nothing.
	decodeField[json.RawMessage](t, e.graphql(create, map[string]any{"in": map[string]any{"externalId": "real", "userId": user, "items": []any{item}}}), "createOrder")

	items := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = item
		}
		return out
	}
	withItem := func(k string, v any) []any {
		it := map[string]any{"name": "A", "quantity": 1, "price": "1.00"}
		it[k] = v
		return []any{it}
	}
	type in = map[string]any
	cases := []struct {
		name  string
		input in
		code  string
	}{
		{"ExternalIDEmpty", in{"externalId": "", "userId": user, "items": items(1)}, "BAD_USER_INPUT"},
		{"ExternalID256", in{"externalId": strings.Repeat("x", 256), "userId": user, "items": items(1)}, "BAD_USER_INPUT"},
		{"ExternalID1MiB", in{"externalId": strings.Repeat("x", 1<<20-200), "userId": user, "items": items(1)}, "PAYLOAD_TOO_LARGE"},
		{"ExternalIDNUL", in{"externalId": "a\x00b", "userId": user, "items": items(1)}, "BAD_USER_INPUT"},
		{"ExternalIDRTLOverride", in{"externalId": "abc\u202edef", "userId": user, "items": items(1)}, "BAD_USER_INPUT"},
		{"UserIDNotUUID", in{"externalId": "x", "userId": "1 OR 1=1", "items": items(1)}, "BAD_USER_INPUT"},
		{"NoItems", in{"externalId": "x", "userId": user, "items": items(0)}, "BAD_USER_INPUT"},
		{"1001Items", in{"externalId": "x", "userId": user, "items": items(1001)}, "BAD_USER_INPUT"},
		{"QuantityZero", in{"externalId": "x", "userId": user, "items": withItem("quantity", 0)}, "BAD_USER_INPUT"},
		{"QuantityNegative", in{"externalId": "x", "userId": user, "items": withItem("quantity", -1)}, "BAD_USER_INPUT"},
		{"QuantityHuge", in{"externalId": "x", "userId": user, "items": withItem("quantity", 1_000_001)}, "BAD_USER_INPUT"},
		{"QuantityOverInt32", in{"externalId": "x", "userId": user, "items": withItem("quantity", 1<<40)}, "BAD_USER_INPUT"},
		{"PriceNegative", in{"externalId": "x", "userId": user, "items": withItem("price", "-1.00")}, "BAD_USER_INPUT"},
		{"Price3Decimals", in{"externalId": "x", "userId": user, "items": withItem("price", "1.999")}, "BAD_USER_INPUT"},
		{"PriceABC", in{"externalId": "x", "userId": user, "items": withItem("price", "abc")}, "BAD_USER_INPUT"},
		{"PriceBool", in{"externalId": "x", "userId": user, "items": withItem("price", true)}, "BAD_USER_INPUT"},
		{"NameEmpty", in{"externalId": "x", "userId": user, "items": withItem("name", "")}, "BAD_USER_INPUT"},
		{"UnknownField", in{"externalId": "x", "userId": user, "items": items(1), "admin": true}, "BAD_USER_INPUT"},
		{"ItemsWrongType", in{"externalId": "x", "userId": user, "items": "lots"}, "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.graphql(create, map[string]any{"in": tc.input})
			if r.code() != tc.code {
				t.Errorf("got %+v; want %s", r.Errors, tc.code)
			}
		})
	}
	// Accepted as plain text: SQL metacharacters, emoji, right-to-left script.
	for _, ext := range []string{"' OR 1=1--", "🛒🎁", "طلب-٤٢"} {
		r := e.graphql(create, map[string]any{"in": map[string]any{"externalId": ext, "userId": user, "items": []any{item}}})
		if len(r.Errors) != 0 {
			t.Errorf("externalId %q: got %+v; want it stored as text", ext, r.Errors)
		}
	}
	// An inline price of 1e309 overflows float64 in the parser.
	r := e.graphql(`mutation { createOrder(input: {externalId: "x", userId: "`+user+`", items: [{name: "A", quantity: 1, price: 1e309}]}) { created } }`, nil)
	if code := r.code(); code != "GRAPHQL_VALIDATION_FAILED" && code != "BAD_USER_INPUT" {
		t.Errorf("price 1e309: got %+v; want a validation error", r.Errors)
	}
	// Nothing was created by the rejected requests.
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { id } }`
	if got := decodeField[*gqlOrder](t, e.graphql(lookup, map[string]any{"e": "x", "u": user}), "orderByExternalId"); got != nil {
		t.Errorf("a rejected request created order x: %+v", got)
	}

	// Illegal transitions: a stale expectedEventId, update after cancel; cancel twice changes nothing.
	upd := `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { eventId } } }`
	cancel := `mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { eventId status } } }`
	if r := e.graphql(upd, map[string]any{"in": map[string]any{"externalId": "real", "userId": user, "items": []any{item}, "expectedEventId": 7}}); r.code() != "CONFLICT" {
		t.Errorf("stale expectedEventId: got %+v; want CONFLICT", r.Errors)
	}
	first := decodeField[struct{ Order gqlOrder }](t, e.graphql(cancel, map[string]any{"in": map[string]any{"externalId": "real", "userId": user}}), "cancelOrder")
	second := decodeField[struct{ Order gqlOrder }](t, e.graphql(cancel, map[string]any{"in": map[string]any{"externalId": "real", "userId": user}}), "cancelOrder")
	if first.Order.Status != "CANCELLED" || second.Order.EventID != first.Order.EventID {
		t.Errorf("cancel twice: got %+v then %+v; want CANCELLED, then unchanged", first.Order, second.Order)
	}
	if r := e.graphql(upd, map[string]any{"in": map[string]any{"externalId": "real", "userId": user, "items": []any{item}}}); r.code() != "CONFLICT" {
		t.Errorf("update after cancel: got %+v; want CONFLICT", r.Errors)
	}

	// Query abuse: introspection nested 50 levels deep.
	deep := "{ __schema { types { fields { type " + strings.Repeat("{ ofType ", 45) + "{ name }" + strings.Repeat(" }", 45) + " } } } }"
	if r := e.graphql(deep, nil); r.code() != "QUERY_TOO_DEEP" {
		t.Errorf("depth 50: got %+v; want QUERY_TOO_DEEP", r.Errors)
	}
}

// TestSlowBody: a client that sends its body slower than HTTP_READ_TIMEOUT
// is cut off instead of holding a connection.
func TestSlowBody(t *testing.T) {
	e := newEnv(t, "HTTP_READ_TIMEOUT=1s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // closed by the server (or our 10 s deadline)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the server kept a slow client for %v; want it cut off after about 1 s", d)
	}
}
