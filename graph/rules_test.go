package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
)

// createStore is an order.Store that records the orders created, and
// ackAll a Dispatcher that ACKs every event at once.
type createStore struct {
	order.Store
	mu    sync.Mutex
	items [][]order.Item
}

func (s *createStore) CreateOrder(_ context.Context, in order.CreateInput, total order.Decimal) (order.Order, order.Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, in.Items)
	o := order.Order{ID: 1, ExternalID: in.ExternalID, UserID: in.UserID, Status: order.StatusNew, Items: in.Items, Total: total, AppliedEventID: -1}
	return o, order.Event{OrderID: 1, Type: order.EventCreate, Items: in.Items}, true, nil
}

func (s *createStore) created() [][]order.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items
}

type ackAll struct{}

func (ackAll) Dispatch(_ context.Context, ev order.Event) (order.Ack, error) {
	return order.Ack{OrderID: ev.OrderID, Outcome: order.Outcome{OK: true},
		Order: order.Order{ID: ev.OrderID, Status: order.StatusDone, Items: ev.Items}}, nil
}

// gql posts a query with variables and returns the first error's code.
func gql(t *testing.T, h http.Handler, query string, vars map[string]any) (code string, body string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r struct {
		Errors []struct{ Extensions map[string]any }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	if len(r.Errors) > 0 {
		code, _ = r.Errors[0].Extensions["code"].(string)
	}
	return code, rec.Body.String()
}

// TestDecimalLiteralsExact: a price written inline is parsed from its text,
// never through a float64: 0.009999999999999999999 is refused for having
// more than 2 decimals instead of stored as 0.01.
func TestDecimalLiteralsExact(t *testing.T) {
	create := func(price string) string {
		return `mutation { createOrder(input: {externalId: "x", userId: "` + user + `", items: [{name: "A", quantity: 1, price: ` + price + `}]}) { order { status } } }`
	}
	const withVar = `mutation($p: Decimal!) { createOrder(input: {externalId: "x", userId: "` + user + `", items: [{name: "A", quantity: 1, price: $p}]}) { order { status } } }`
	const withDefault = `mutation($p: Decimal! = 0.009999999999999999999) { createOrder(input: {externalId: "x", userId: "` + user + `", items: [{name: "A", quantity: 1, price: $p}]}) { order { status } } }`
	for _, tc := range []struct {
		name  string
		query string
		vars  map[string]any
		code  string
		want  order.Decimal // the price stored, when accepted
	}{
		{"InlineTooPrecise", create("0.009999999999999999999"), nil, order.EINVALID, 0},
		{"InlineThreeDecimals", create("1.999"), nil, order.EINVALID, 0},
		{"InlineExponent", create("1e309"), nil, order.EINVALID, 0},
		{"InlineFloat", create("29.99"), nil, "", 2999},
		{"InlineInt", create("3"), nil, "", 300},
		{"InlineString", create(`"0.10"`), nil, "", 10},
		{"VariableTooPrecise", withVar, map[string]any{"p": json.Number("0.009999999999999999999")}, order.EINVALID, 0},
		{"VariableNumber", withVar, map[string]any{"p": json.Number("29.99")}, "", 2999},
		{"DefaultTooPrecise", withDefault, nil, order.EINVALID, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &createStore{}
			log := slog.New(slog.DiscardHandler)
			h := graph.NewHandler(order.NewService(store, ackAll{}, log), log, nil, graph.Options{})
			code, body := gql(t, h, tc.query, tc.vars)
			if code != tc.code {
				t.Fatalf("got code %q (%s); want %q", code, body, tc.code)
			}
			got := store.created()
			if tc.code != "" {
				if len(got) != 0 {
					t.Errorf("stored %v; want nothing", got)
				}
				return
			}
			if len(got) != 1 || got[0][0].Price != tc.want {
				t.Errorf("stored %v; want one order with price %d", got, tc.want)
			}
		})
	}
}

// TestSubscriptionTwoRootFields: two root fields under aliases are a
// validation error (the spec counts response names), not an internal error
// with an ERROR log line.
func TestSubscriptionTwoRootFields(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := graph.NewHandler(order.NewService(newOneOrder(), nil, log), log, nil, graph.Options{})
	field := `orderUpdated(externalId: "o-1", userId: "` + user + `") { status }`
	for _, q := range []string{
		`subscription { a: ` + field + ` b: ` + field + ` }`,
		`subscription { a: ` + field + ` ...F } fragment F on Subscription { b: ` + field + ` }`,
		`subscription { ` + field + ` __typename }`,
	} {
		if code, body := gql(t, h, q, nil); code != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: got %s; want GRAPHQL_VALIDATION_FAILED", q, body)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logged an error:\n%s", logs.String())
	}
	// Websocket: the same refusal, as an error message for the operation.
	url, _ := serve(t, graph.WebsocketOptions{})
	c := dial(t, url)
	c.ack()
	q, _ := json.Marshal(map[string]string{"query": `subscription { a: ` + field + ` b: ` + field + ` }`})
	c.send(msg{ID: "1", Type: "subscribe", Payload: q})
	if m := c.mustRead(); m.Type != "error" || m.ID != "1" || !strings.Contains(string(m.Payload), "GRAPHQL_VALIDATION_FAILED") {
		t.Errorf("websocket: got %s %s %s; want an error GRAPHQL_VALIDATION_FAILED for 1", m.Type, m.ID, m.Payload)
	}
}
