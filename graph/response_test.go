package graph_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pubsub"
)

// TestResponseLimitEstimate: the bytes counted while a response is built
// are within 10 % of the JSON sent, so a ceiling 10 % above a response lets
// it through and one 10 % below refuses it.
func TestResponseLimitEstimate(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := order.NewService(newBigStore(), nil, log)
	page := `orders(userId: "` + user + `", first: 3)`
	lookup := `orderByExternalId(externalId: "o-1", userId: "` + user + `")`
	for name, q := range map[string]string{
		"Page":        "{ " + page + " { edges { cursor node { id externalId status eventId total createdAt items { name quantity price } } } pageInfo { hasNextPage endCursor } } }",
		"Aliases":     "{ a: " + page + " { edges { node { items { name } } } } b: " + page + " { edges { node { items { quantity } } } } }",
		"Fragments":   "{ " + lookup + " { ...O items { ...I } } } fragment O on Order { id userId updatedAt cancelReason } fragment I on OrderItem { n: name p: price }",
		"Lookup":      "{ " + lookup + " { id items { __typename name } } }",
		"ScalarsOnly": "{ " + lookup + " { id externalId userId status eventId total createdAt updatedAt } }",
	} {
		t.Run(name, func(t *testing.T) {
			open := graph.NewHandler(svc, log, nil, graph.Options{Introspection: true})
			code, size := post(t, open, q, "")
			if code != "" {
				t.Fatalf("without a tight ceiling: got %s", code)
			}
			for _, tc := range []struct {
				ceiling int
				want    string
			}{
				{size * 11 / 10, ""},
				{size * 9 / 10, graph.CodeResponseTooLarge},
			} {
				h := graph.NewHandler(svc, log, nil, graph.Options{MaxResponseBytes: tc.ceiling})
				if got, _ := post(t, h, q, ""); got != tc.want {
					t.Errorf("response of %d bytes, ceiling %d: got %q; want %q", size, tc.ceiling, got, tc.want)
				}
			}
		})
	}
}

// TestResponseLimitDefault: the default ceiling is 4 MiB.
func TestResponseLimitDefault(t *testing.T) {
	h := hostileHandler(t)
	// 9 orders of 1000 items of 400 characters: 3.7 MB, answered; 11: 4.5 MB, refused.
	for first, want := range map[string]string{"9": "", "11": graph.CodeResponseTooLarge} {
		q := `{ orders(userId: "` + user + `", first: ` + first + `) { edges { node { items { name } } } } }`
		if got, size := post(t, h, q, ""); got != want {
			t.Errorf("first %s (%d bytes): got %q; want %q", first, size, got, want)
		}
	}
	if !strings.Contains(graph.CodeResponseTooLarge, "RESPONSE_TOO_LARGE") {
		t.Fatal("code renamed")
	}
}

// TestResponseLimitSubscription: each event of a subscription has its own
// budget: events under the ceiling go out, one over it is replaced by the
// error.
func TestResponseLimitSubscription(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		ceiling int
		want    string
	}{{1000, `"status":"DONE"`}, {20, graph.CodeResponseTooLarge}} {
		svc := order.NewService(newOneOrder(), nil, log)
		svc.Changes = pubsub.New(0)
		srv := httptest.NewServer(graph.NewHandler(svc, log, nil, graph.Options{MaxResponseBytes: tc.ceiling}))
		c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"))
		c.ack()
		c.subscribe("1")
		if m := c.mustRead(); m.ID != "1" || !strings.Contains(string(m.Payload), tc.want) {
			t.Errorf("ceiling %d: got %s %s; want %s", tc.ceiling, m.Type, m.Payload, tc.want)
		}
		srv.Close()
	}
}
