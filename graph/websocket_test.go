package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pubsub"
)

const user = "123e4567-e89b-12d3-a456-426614174000"

// oneOrder is an order.Store with one order, "o-1" of user, DONE at
// event 0 until set changes it.
type oneOrder struct {
	order.Store
	state *atomic.Pointer[order.Order]
}

func newOneOrder() oneOrder {
	o := oneOrder{state: &atomic.Pointer[order.Order]{}}
	o.state.Store(&order.Order{ID: 1, ExternalID: "o-1", UserID: user, Status: order.StatusDone, Total: 100})
	return o
}

func (o oneOrder) OrderByExternalID(_ context.Context, externalID, userID string) (order.Order, error) {
	if externalID != "o-1" || userID != user {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	return *o.state.Load(), nil
}

// fakeOrders serves the GraphQL handler over the one order.
type fakeOrders struct {
	url   string // ws://…/ (the handler is at the root)
	hub   *pubsub.Hub
	order oneOrder
}

// change moves the order to status at event and publishes it, as the
// PostgreSQL feed would.
func (f fakeOrders) change(status order.Status, event int) {
	o := *f.order.state.Load()
	o.Status, o.EventID, o.UpdatedAt = status, event, time.Now()
	f.order.state.Store(&o)
	f.hub.Publish(order.StatusChange{OrderID: o.ID})
}

// waitNoWatchers fails unless every watch of the hub ends within 10 s.
func (f fakeOrders) waitNoWatchers(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.hub.Len() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d order watches still registered after 10 s", f.hub.Len())
		}
	}
}

func serveFake(t *testing.T, ws graph.WebsocketOptions) fakeOrders {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := fakeOrders{hub: pubsub.New(0), order: newOneOrder()}
	svc := order.NewService(f.order, nil, log)
	svc.Changes = f.hub
	srv := httptest.NewServer(graph.NewHandler(svc, log, nil, graph.Options{Websocket: ws}))
	t.Cleanup(srv.Close)
	f.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return f
}

func serve(t *testing.T, ws graph.WebsocketOptions) (string, *pubsub.Hub) {
	t.Helper()
	f := serveFake(t, ws)
	return f.url, f.hub
}

type msg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type client struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c}
}

func (c *client) send(m msg) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := c.c.Write(c.t.Context(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() (msg, error) {
	for {
		_, b, err := c.c.Read(c.t.Context())
		if err != nil {
			return msg{}, err
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatal(err)
		}
		if m.Type != "ping" && m.Type != "pong" {
			return m, nil
		}
	}
}

func (c *client) mustRead() msg {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *client) ack() {
	c.t.Helper()
	c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	if m := c.mustRead(); m.Type != "connection_ack" {
		c.t.Fatalf("got %+v; want connection_ack", m)
	}
}

func (c *client) subscribe(id string) {
	c.send(msg{ID: id, Type: "subscribe", Payload: json.RawMessage(
		`{"query": "subscription { orderUpdated(externalId: \"o-1\", userId: \"` + user + `\") { status eventId } }"}`)})
}

// refusedWith reads the answer to a refused subscription and checks its
// code: one error message, which ends the operation (no complete follows).
func (c *client) refusedWith(id, code string) {
	c.t.Helper()
	m := c.mustRead()
	if m.Type != "error" || m.ID != id || !strings.Contains(string(m.Payload), `"code":"`+code+`"`) {
		c.t.Fatalf("got %s %s %s; want an error message %s for %s", m.Type, m.ID, m.Payload, code, id)
	}
	c.quiet()
}

// quiet checks that nothing but the answer to a ping comes next.
func (c *client) quiet() {
	c.t.Helper()
	c.send(msg{Type: "ping", Payload: json.RawMessage(`{"probe":true}`)})
	for {
		_, b, err := c.c.Read(c.t.Context())
		if err != nil {
			c.t.Fatalf("waiting for pong: %v", err)
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatal(err)
		}
		switch {
		case m.Type == "pong" && string(m.Payload) == `{"probe":true}`:
			return
		case m.Type == "ping" || m.Type == "pong":
		default:
			c.t.Fatalf("got %s %s %s; want nothing before the pong", m.Type, m.ID, m.Payload)
		}
	}
}

// closedWith reads until the connection closes and checks the close code.
func (c *client) closedWith(code websocket.StatusCode) {
	c.t.Helper()
	for {
		m, err := c.read()
		if err == nil {
			c.t.Logf("before the close: %s %s %s", m.Type, m.ID, m.Payload)
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			c.t.Fatalf("closed with %d (%v); want %d", got, err, code)
		}
		return
	}
}

func (c *client) next(id string) {
	c.t.Helper()
	if m := c.mustRead(); m.Type != "next" || m.ID != id || !strings.Contains(string(m.Payload), `"status":"DONE"`) {
		c.t.Fatalf("got %s %s %s; want next with the order for %s", m.Type, m.ID, m.Payload, id)
	}
}

func TestWebsocketSubscriptionsPerConnection(t *testing.T) {
	url, _ := serve(t, graph.WebsocketOptions{MaxSubscriptions: 2})
	c := dial(t, url)
	c.ack()
	c.subscribe("1")
	c.next("1")
	c.subscribe("2")
	c.next("2")
	c.subscribe("3")
	c.refusedWith("3", "TOO_MANY_SUBSCRIPTIONS")
	c.send(msg{ID: "1", Type: "complete"}) // frees a slot at once, and is not answered
	c.subscribe("4")
	c.next("4")
	c.quiet()
}

func TestWebsocketRateLimit(t *testing.T) {
	var calls atomic.Int64
	url, _ := serve(t, graph.WebsocketOptions{Allow: func(context.Context) (bool, time.Duration) {
		return calls.Add(1) <= 2, 1500 * time.Millisecond // the connection and one operation
	}})
	c := dial(t, url)
	c.ack()
	c.subscribe("1")
	c.next("1")
	c.subscribe("2")
	c.refusedWith("2", "RATE_LIMITED")

	// Over the limit already at connection_init: closed with 4429.
	c = dial(t, url)
	c.send(msg{Type: "connection_init"})
	if _, err := c.read(); websocket.CloseStatus(err) != 4429 {
		t.Errorf("connection over the rate limit: got %v; want close 4429", err)
	}
}

func TestWebsocketRefusesBadCredentials(t *testing.T) {
	url, _ := serve(t, graph.WebsocketOptions{Authenticate: func(ctx context.Context, authorization string) (context.Context, error) {
		if authorization != "Bearer good" {
			return ctx, order.Errorf(order.EUNAUTHENTICATED, "bad token")
		}
		return order.WithPrincipal(ctx, order.Principal{UserID: user}), nil
	}})
	c := dial(t, url)
	c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization": "Bearer bad"}`)})
	if _, err := c.read(); websocket.CloseStatus(err) != 4403 {
		t.Errorf("bad token: got %v; want close 4403", err)
	}
	c = dial(t, url)
	c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization": "Bearer good"}`)})
	if m := c.mustRead(); m.Type != "connection_ack" {
		t.Fatalf("good token: got %+v; want connection_ack", m)
	}
	c.subscribe("1")
	c.next("1")
}

func TestWebsocketClosedOnShutdown(t *testing.T) {
	shutdown, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, hub := serve(t, graph.WebsocketOptions{Shutdown: shutdown})
	c := dial(t, url)
	c.ack()
	c.subscribe("1")
	c.next("1")
	cancel()
	if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after shutdown: got %v; want a normal close", err)
	}
	for deadline := time.Now().Add(10 * time.Second); hub.Len() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // the subscription must end with the connection
			t.Fatalf("%d subscriptions still registered 10 s after the shutdown", hub.Len())
		}
	}
}
