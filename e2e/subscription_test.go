package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient speaks graphql-transport-ws, as the graphql-ws library does.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

// dialWS opens a graphql-transport-ws connection to base's /graphql.
func dialWS(t *testing.T, base, origin string) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}
	if origin != "" {
		opts.HTTPHeader = http.Header{"Origin": {origin}}
	}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", opts)
	if err != nil {
		if resp != nil {
			return nil, &dialError{status: resp.StatusCode, err: err}
		}
		return nil, err
	}
	if c.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("negotiated subprotocol %q; want graphql-transport-ws", c.Subprotocol())
	}
	w := &wsClient{t: t, c: c}
	t.Cleanup(func() { c.CloseNow() })
	return w, nil
}

type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string { return e.err.Error() }

func (w *wsClient) send(m wsMsg) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write %s: %v", m.Type, err)
	}
}

// read returns the next message other than ping and pong (it answers pings).
func (w *wsClient) read() (wsMsg, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a guard, not an expectation
		_, b, err := w.c.Read(ctx)
		cancel()
		if err != nil {
			return wsMsg{}, err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatalf("decode %q: %v", b, err)
		}
		switch m.Type {
		case "ping":
			w.send(wsMsg{Type: "pong"})
		case "pong":
		default:
			return m, nil
		}
	}
}

func (w *wsClient) mustRead() wsMsg {
	w.t.Helper()
	m, err := w.read()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

// init sends connection_init with the token (none when "") and returns the answer.
func (w *wsClient) init(token string) (wsMsg, error) {
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	b, _ := json.Marshal(payload)
	w.send(wsMsg{Type: "connection_init", Payload: b})
	return w.read()
}

const orderUpdated = `subscription($e: String!, $u: ID!) { orderUpdated(externalId: $e, userId: $u) { id externalId userId status eventId total items { name quantity price } } }`

func (w *wsClient) subscribe(id, externalID, userID string) {
	b, _ := json.Marshal(map[string]any{"query": orderUpdated, "variables": map[string]any{"e": externalID, "u": userID}})
	w.send(wsMsg{ID: id, Type: "subscribe", Payload: b})
}

// nextOrder reads the next message and returns the order it pushes.
func (w *wsClient) nextOrder(id string) gqlOrder {
	w.t.Helper()
	m := w.mustRead()
	var p struct {
		Data struct {
			OrderUpdated gqlOrder `json:"orderUpdated"`
		} `json:"data"`
		Errors []any `json:"errors"`
	}
	if m.Type != "next" || m.ID != id || json.Unmarshal(m.Payload, &p) != nil || len(p.Errors) > 0 {
		w.t.Fatalf("got %s %s %s; want next for %s with an order", m.Type, m.ID, m.Payload, id)
	}
	return p.Data.OrderUpdated
}

func (w *wsClient) expect(id string, states ...string) gqlOrder {
	w.t.Helper()
	var o gqlOrder
	for _, want := range states {
		o = w.nextOrder(id)
		if got := o.Status + " " + itoa(o.EventID); got != want {
			w.t.Fatalf("pushed %s; want %s (the sequence %v)", got, want, states)
		}
	}
	return o
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSubscriptions subscribes through API instance A to an order changed
// through instance B: the pushes come from PostgreSQL NOTIFY, shared by the
// instances.
func TestSubscriptions(t *testing.T) {
	e := newInfra(t, "AUTH_JWT_SECRET="+e2eSecret, "AUTH_ISSUER=e2e", "AUTH_AUDIENCE=orderstream",
		"CORS_ALLOWED_ORIGINS=https://shop.example")
	baseA, _ := e.startAPI("api-a")
	baseB, procB := e.startAPI("api-b")
	userA, userB := uuid.NewString(), uuid.NewString()
	tokA, tokB := mint(t, e2eSecret, userA, "", time.Hour), mint(t, e2eSecret, userB, "", time.Hour)
	a := e.as(tokA)
	const ext = "sub-1"
	item := func(price string) []any { return []any{map[string]any{"name": "A", "quantity": 1, "price": price}} }

	// No worker yet: the create through B waits, and the order stays NEW.
	created := make(chan gqlResult, 1)
	go func() {
		created <- a.graphqlAt(baseB, `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status eventId } } }`,
			map[string]any{"in": map[string]any{"externalId": ext, "userId": userA, "items": item("1.00")}})
	}()
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { status } }`
	for deadline := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("the create through API B was not stored within 30 s")
		}
		r := a.graphqlAt(baseA, lookup, map[string]any{"e": ext, "u": userA})
		if len(r.Errors) > 0 {
			t.Fatalf("lookup: %+v", r.Errors)
		}
		if string(r.Data["orderByExternalId"]) != "null" {
			break
		}
		time.Sleep(50 * time.Millisecond) // the create is on its way
	}

	ws, err := dialWS(t, baseA, "https://shop.example") // an allowed browser origin
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ws.init(tokA); err != nil || m.Type != "connection_ack" {
		t.Fatalf("connection_init: got %+v, %v; want connection_ack", m, err)
	}
	ws.subscribe("1", ext, userA)
	ws.expect("1", "NEW 0") // the current state first

	e.startWorker()
	ws.expect("1", "PROCESSING 0", "DONE 0")
	if r := <-created; len(r.Errors) > 0 {
		t.Fatalf("create: %+v", r.Errors)
	}
	if body := metricsOf(t, baseA); !strings.Contains(body, "orderstream_graphql_subscriptions{service=\"api\"} 1") {
		t.Errorf("API A /metrics: want orderstream_graphql_subscriptions 1 in\n%s", grepLines(body, "subscriptions"))
	}

	r := a.graphqlAt(baseB, `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { status eventId } } }`,
		map[string]any{"in": map[string]any{"externalId": ext, "userId": userA, "items": item("2.50")}})
	if len(r.Errors) > 0 {
		t.Fatalf("update: %+v", r.Errors)
	}
	ws.expect("1", "NEW 1", "PROCESSING 1")
	if o := ws.expect("1", "DONE 1"); o.Total != "2.50" || len(o.Items) != 1 || o.Items[0].Price != "2.50" {
		t.Errorf("after the update: got %+v; want the new items, total 2.50", o)
	}
	r = a.graphqlAt(baseB, `mutation { cancelOrder(input: {externalId: "`+ext+`", userId: "`+userA+`"}) { order { status } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("cancel: %+v", r.Errors)
	}
	ws.expect("1", "NEW 2", "PROCESSING 2", "CANCELLED 2")

	ws.send(wsMsg{ID: "1", Type: "complete"}) // unsubscribe
	ws.c.Close(websocket.StatusNormalClosure, "")

	t.Run("NoToken", func(t *testing.T) {
		ws, err := dialWS(t, baseA, "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := ws.init("")
		if websocket.CloseStatus(err) != 4403 {
			t.Errorf("connection_init without a token: got %+v, %v; want close 4403", m, err)
		}
	})
	t.Run("InvalidToken", func(t *testing.T) {
		ws, err := dialWS(t, baseA, "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := ws.init(algNone(userA))
		if websocket.CloseStatus(err) != 4403 {
			t.Errorf("connection_init with an unsigned token: got %+v, %v; want close 4403", m, err)
		}
	})
	t.Run("OtherUsersOrder", func(t *testing.T) {
		ws, err := dialWS(t, baseA, "")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := ws.init(tokB); err != nil || m.Type != "connection_ack" {
			t.Fatalf("connection_init: got %+v, %v; want connection_ack", m, err)
		}
		for id, key := range map[string][2]string{"theirs": {ext, userA}, "missing": {"nope", userB}} {
			ws.subscribe(id, key[0], key[1])
			m := ws.mustRead()
			if m.ID != id || !strings.Contains(string(m.Payload), `"code":"NOT_FOUND"`) {
				t.Errorf("%s: got %s %s; want an error NOT_FOUND", id, m.Type, m.Payload)
			}
			if m.Type == "next" {
				if m := ws.mustRead(); m.Type != "complete" {
					t.Errorf("%s: got %s after the error; want complete", id, m.Type)
				}
			}
		}
	})
	t.Run("OtherOrigin", func(t *testing.T) {
		_, err := dialWS(t, baseA, "https://evil.example")
		var de *dialError
		if !errors.As(err, &de) || de.status != http.StatusForbidden {
			t.Errorf("websocket from an origin outside CORS_ALLOWED_ORIGINS: got %v; want 403", err)
		}
	})
	t.Run("ShutdownClosesSubscriptions", func(t *testing.T) {
		ws, err := dialWS(t, baseB, "")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := ws.init(tokA); err != nil || m.Type != "connection_ack" {
			t.Fatalf("connection_init: got %+v, %v; want connection_ack", m, err)
		}
		ws.subscribe("1", ext, userA)
		ws.expect("1", "CANCELLED 2")
		procB.stop(t) // SIGTERM: exits 0 although a subscription is open
		if m, err := ws.read(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("after SIGTERM: got %+v, %v; want the socket closed normally", m, err)
		}
	})
	t.Run("NotOverHTTP", func(t *testing.T) {
		r := a.graphqlAt(baseA, orderUpdated, map[string]any{"e": ext, "u": userA})
		if r.code() != "BAD_REQUEST" {
			t.Errorf("a subscription over POST: got %+v; want BAD_REQUEST", r.Errors)
		}
	})
}

// metricsOf returns the body of GET base/metrics, which must answer 200.
func metricsOf(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %d", base, resp.StatusCode)
	}
	return string(b)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
