package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestConformance runs the protocol conformance suites against the
// binaries with authentication on: graphql-http's GraphQL-over-HTTP audits
// (clients/http-audit.test.mjs: every audit ok, none warns) and
// graphql-transport-ws with raw frames and the graphql-ws client
// (clients/ws-protocol.test.mjs). Without clients/node_modules they skip,
// except in CI, where they fail.
func TestConformance(t *testing.T) {
	user := uuid.NewString()
	tok := mint(t, e2eSecret, user, "", time.Hour)
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "RATE_LIMIT_RPS=0")

	t.Run("GraphQLOverHTTP", func(t *testing.T) {
		nodeTest(t, "http-audit.test.mjs", "GRAPHQL_URL="+e.base+"/graphql", "TOKEN="+tok)
	})
	t.Run("GraphQLTransportWS", func(t *testing.T) {
		nodeTest(t, "ws-protocol.test.mjs", "GRAPHQL_URL="+e.base+"/graphql", "TOKEN="+tok, "USER_ID="+user)
	})
	// The finding of the hostile run: an over-limit body without
	// Content-Length answered 200 BAD_REQUEST. Through the whole stack
	// (authentication, rate limit, tracing middlewares) it is 413.
	t.Run("ChunkedOverLimit", func(t *testing.T) {
		body := io.MultiReader(strings.NewReader(`{"query": "{ __typename }", "pad": "`),
			strings.NewReader(strings.Repeat("a", 2<<20)), strings.NewReader(`"}`))
		req, _ := http.NewRequest(http.MethodPost, e.base+"/graphql", body) // a MultiReader: no length known
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if req.ContentLength != 0 { // unknown: net/http sends it chunked
			t.Fatalf("the request has Content-Length %d; want none (chunked)", req.ContentLength)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"code":"PAYLOAD_TOO_LARGE"`) {
			t.Errorf("got %d %s; want 413 PAYLOAD_TOO_LARGE", resp.StatusCode, b)
		}
	})
}
