package graph_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
)

// TestGraphQLTransportWSCloseCodes sends each message the protocol
// document (enisdenjo/graphql-ws PROTOCOL.md) answers with a close, and
// checks the code.
func TestGraphQLTransportWSCloseCodes(t *testing.T) {
	f := serveFake(t, graph.WebsocketOptions{InitTimeout: 200 * time.Millisecond})
	raw := func(c *client, s string) {
		c.t.Helper()
		if err := c.c.Write(c.t.Context(), websocket.MessageText, []byte(s)); err != nil {
			c.t.Fatal(err)
		}
	}
	sub := `{"query": "subscription { orderUpdated(externalId: \"o-1\", userId: \"` + user + `\") { status } }"}`
	for _, tc := range []struct {
		name   string
		acked  bool
		frames []string
		code   websocket.StatusCode
	}{
		{"MalformedJSON", false, []string{`{"type": "connection_init"`}, 4400},
		{"NotAnObject", true, []string{`["subscribe"]`}, 4400},
		{"UnknownType", true, []string{`{"type": "start", "id": "1", "payload": ` + sub + `}`}, 4400},
		{"NoType", true, []string{`{"id": "1", "payload": ` + sub + `}`}, 4400},
		{"NextFromClient", true, []string{`{"type": "next", "id": "1", "payload": {}}`}, 4400},
		{"AckFromClient", true, []string{`{"type": "connection_ack"}`}, 4400},
		{"InitPayloadNotObject", false, []string{`{"type": "connection_init", "payload": "token"}`}, 4400},
		{"SubscribeWithoutID", true, []string{`{"type": "subscribe", "payload": ` + sub + `}`}, 4400},
		{"SubscribeEmptyID", true, []string{`{"type": "subscribe", "id": "", "payload": ` + sub + `}`}, 4400},
		{"SubscribeNumberID", true, []string{`{"type": "subscribe", "id": 1, "payload": ` + sub + `}`}, 4400},
		{"SubscribeWithoutQuery", true, []string{`{"type": "subscribe", "id": "1", "payload": {"variables": {}}}`}, 4400},
		{"SubscribeVariablesArray", true, []string{`{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }", "variables": []}}`}, 4400},
		{"CompleteWithoutID", true, []string{`{"type": "complete"}`}, 4400},
		{"SubscribeBeforeAck", false, []string{`{"type": "subscribe", "id": "1", "payload": ` + sub + `}`}, 4401},
		{"SecondInit", true, []string{`{"type": "connection_init"}`}, 4429},
		{"NoInit", false, nil, 4408},
		{"DuplicateID", true, []string{`{"type": "subscribe", "id": "1", "payload": ` + sub + `}`, `{"type": "subscribe", "id": "1", "payload": ` + sub + `}`}, 4409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, f.url)
			if tc.acked {
				c.ack()
			}
			for _, fr := range tc.frames {
				raw(c, fr)
			}
			c.closedWith(tc.code)
		})
	}
	f.waitNoWatchers(t) // the duplicate's and the original's watches ended with the connection
}

// TestGraphQLTransportWSCompleteStopsPushes is the regression test of the
// duplicate-id bug: a second subscribe with a live id used to be accepted,
// and after the client's complete the orphan kept pushing NEW, PROCESSING
// and CANCELLED for that id. Now the duplicate closes the socket with 4409,
// and after a complete nothing more comes for the id.
func TestGraphQLTransportWSCompleteStopsPushes(t *testing.T) {
	f := serveFake(t, graph.WebsocketOptions{})

	t.Run("DuplicateIDClosesAndEndsBoth", func(t *testing.T) {
		c := dial(t, f.url)
		c.ack()
		c.subscribe("1")
		c.next("1")
		c.subscribe("1")
		c.closedWith(4409)
		f.waitNoWatchers(t)
	})

	t.Run("NothingAfterComplete", func(t *testing.T) {
		c := dial(t, f.url)
		c.ack()
		c.subscribe("1")
		c.next("1")
		c.send(msg{ID: "1", Type: "complete"})
		f.waitNoWatchers(t)
		f.change(order.StatusNew, 1)
		f.change(order.StatusProcessing, 1)
		f.change(order.StatusCancelled, 1)
		c.quiet() // no complete back, no pushes
	})

	t.Run("IDReusedAfterComplete", func(t *testing.T) {
		f.change(order.StatusDone, 2)
		c := dial(t, f.url)
		c.ack()
		c.subscribe("1")
		c.next("1")
		c.send(msg{ID: "1", Type: "complete"})
		c.subscribe("1") // free again once completed
		c.next("1")
		f.change(order.StatusNew, 3)
		if m := c.mustRead(); m.Type != "next" || m.ID != "1" || !strings.Contains(string(m.Payload), `"status":"NEW"`) {
			t.Fatalf("got %s %s %s; want the new subscription's NEW", m.Type, m.ID, m.Payload)
		}
		c.quiet() // one subscription: one push per change
	})
}

// TestGraphQLTransportWSMessages checks the messages of operations that
// run: next then complete, error alone, pong with the ping's payload.
func TestGraphQLTransportWSMessages(t *testing.T) {
	f := serveFake(t, graph.WebsocketOptions{})
	c := dial(t, f.url)
	c.ack()

	t.Run("QueryNextThenComplete", func(t *testing.T) {
		c.send(msg{ID: "q", Type: "subscribe", Payload: json.RawMessage(`{"query": "{ __typename }"}`)})
		if m := c.mustRead(); m.Type != "next" || m.ID != "q" || string(m.Payload) != `{"data":{"__typename":"Query"}}` {
			t.Fatalf("got %s %s %s; want next with the data", m.Type, m.ID, m.Payload)
		}
		if m := c.mustRead(); m.Type != "complete" || m.ID != "q" {
			t.Fatalf("got %+v; want complete for q", m)
		}
	})
	t.Run("ValidationFailureIsAnError", func(t *testing.T) {
		c.send(msg{ID: "v", Type: "subscribe", Payload: json.RawMessage(`{"query": "subscription { nope }"}`)})
		c.refusedWith("v", "GRAPHQL_VALIDATION_FAILED")
	})
	t.Run("NotFoundIsAnError", func(t *testing.T) {
		c.send(msg{ID: "n", Type: "subscribe", Payload: json.RawMessage(
			`{"query": "subscription { orderUpdated(externalId: \"other\", userId: \"` + user + `\") { status } }"}`)})
		c.refusedWith("n", "NOT_FOUND")
	})
	t.Run("StreamEndsWithComplete", func(t *testing.T) {
		c.subscribe("s")
		c.next("s")
		c.send(msg{ID: "s", Type: "complete"})
		c.quiet()
	})
	t.Run("PingBeforeInit", func(t *testing.T) {
		c := dial(t, f.url)
		c.quiet() // a pong, though not yet initialised
		c.ack()
	})
	t.Run("CompleteOfUnknownIDIgnored", func(t *testing.T) {
		c.send(msg{ID: "never", Type: "complete"})
		c.quiet()
	})
}

// TestGraphQLTransportWSLiveness: the server pings, and closes a
// connection that stays silent for two intervals; expired credentials
// close it with 4403.
func TestGraphQLTransportWSLiveness(t *testing.T) {
	t.Run("ServerPingsAndDropsTheSilent", func(t *testing.T) {
		f := serveFake(t, graph.WebsocketOptions{PingInterval: 50 * time.Millisecond})
		c := dial(t, f.url)
		c.ack()
		_, b, err := c.c.Read(t.Context())
		if err != nil || !strings.Contains(string(b), `"type":"ping"`) {
			t.Fatalf("got %s, %v; want a ping", b, err)
		}
		c.closedWith(websocket.StatusGoingAway) // read() does not answer pings
	})
	t.Run("AnsweringKeepsItOpen", func(t *testing.T) {
		f := serveFake(t, graph.WebsocketOptions{PingInterval: 50 * time.Millisecond})
		c := dial(t, f.url)
		c.ack()
		for pings := 0; pings < 8; { // 400 ms: four times the silence allowed
			_, b, err := c.c.Read(t.Context())
			if err != nil {
				t.Fatalf("closed after %d pings although it answers them: %v", pings, err)
			}
			if strings.Contains(string(b), `"type":"ping"`) {
				pings++
				c.send(msg{Type: "pong"})
			}
		}
		c.quiet()
	})
	t.Run("CredentialsExpire", func(t *testing.T) {
		f := serveFake(t, graph.WebsocketOptions{Authenticate: func(ctx context.Context, _ string) (context.Context, error) {
			ctx, cancel := context.WithTimeout(order.WithPrincipal(ctx, order.Principal{UserID: user}), 100*time.Millisecond)
			context.AfterFunc(ctx, cancel)
			return ctx, nil
		}})
		c := dial(t, f.url)
		c.ack()
		c.subscribe("1")
		c.next("1")
		c.closedWith(4403)
		f.waitNoWatchers(t)
	})
}

// TestGraphQLTransportWSOnlyWhenOffered: a client offering only the older
// graphql-ws subprotocol still gets it (gqlgen's transport).
func TestGraphQLTransportWSOnlyWhenOffered(t *testing.T) {
	f := serveFake(t, graph.WebsocketOptions{})
	c, _, err := websocket.Dial(t.Context(), f.url, &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "graphql-ws" {
		t.Fatalf("negotiated %q; want graphql-ws", c.Subprotocol())
	}
	_ = c.Write(t.Context(), websocket.MessageText, []byte(`{"type": "connection_init", "payload": {}}`))
	_, b, err := c.Read(t.Context())
	if err != nil || !strings.Contains(string(b), `"connection_ack"`) {
		t.Fatalf("got %s, %v; want connection_ack", b, err)
	}
}
