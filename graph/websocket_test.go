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

// oneOrder is an order.Store with one order, "o-1" of user.
type oneOrder struct{ order.Store }

func (oneOrder) OrderByExternalID(_ context.Context, externalID, userID string) (order.Order, error) {
	if externalID != "o-1" || userID != user {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	return order.Order{ID: 1, ExternalID: externalID, UserID: userID, Status: order.StatusDone, Total: 100}, nil
}

func serve(t *testing.T, ws graph.WebsocketOptions) (string, *pubsub.Hub) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := order.NewService(oneOrder{}, nil, log)
	hub := pubsub.New(0)
	svc.Changes = hub
	srv := httptest.NewServer(graph.NewHandler(svc, log, nil, graph.Options{Websocket: ws}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), hub
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

// refusedWith reads the answer to a refused subscription and checks its code.
func (c *client) refusedWith(id, code string) {
	c.t.Helper()
	m := c.mustRead()
	if m.ID != id || !strings.Contains(string(m.Payload), `"code":"`+code+`"`) {
		c.t.Fatalf("got %s %s %s; want an error %s for %s", m.Type, m.ID, m.Payload, code, id)
	}
	if m := c.mustRead(); m.Type != "complete" || m.ID != id {
		c.t.Fatalf("got %+v; want complete for %s", m, id)
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
	c.send(msg{ID: "1", Type: "complete"}) // frees a slot
	if m := c.mustRead(); m.Type != "complete" || m.ID != "1" {
		t.Fatalf("got %+v; want complete for 1", m) // gqlgen confirms: the slot is free by then
	}
	c.subscribe("4")
	c.next("4")
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
