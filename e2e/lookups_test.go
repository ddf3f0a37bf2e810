package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/gqltest"
)

// TestConcurrentLookupsAnswerEachTheirOwn: through the real API, over
// GraphQL and REST at once, concurrent lookups that the API answers with
// one statement (docs/SCALING.md, "Lookups in one statement") each get
// their own user's order: two users with the same external id get their
// own, and a user asking for an external id that only another user has
// gets null (GraphQL) or 404 (REST), as for a missing order, while that
// other user's lookups are in the same batches. Rounds of 64 requests run
// until the API's metrics show batches (one lookup statement in flight, so
// that they form); every answer of every round is checked.
func TestConcurrentLookupsAnswerEachTheirOwn(t *testing.T) {
	e := newEnv(t, "DB_LOOKUP_BATCH_IN_FLIGHT=1")
	alice, bob := uuid.NewString(), uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id } } }`
	ids := map[string]string{}
	for _, o := range []struct{ ext, user, price string }{{"shared", alice, "1"}, {"shared", bob, "2"}, {"only-alice", alice, "3"}} {
		r := decodeField[struct{ Order gqlOrder }](t, e.graphql(create, map[string]any{"in": map[string]any{"externalId": o.ext, "userId": o.user,
			"items": []any{map[string]any{"name": "A", "quantity": 1, "price": o.price}}}}), "createOrder")
		ids[o.ext+"/"+o.user] = r.Order.ID
	}
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { id userId } }`
	cases := []struct{ ext, user string }{{"shared", alice}, {"shared", bob}, {"only-alice", alice}, {"only-alice", bob}}
	// ask returns the id of the order the API answers with ("" for none).
	ask := func(i int) (string, error) {
		c := cases[i%len(cases)]
		if i%2 == 0 {
			r, err := (&gqltest.Client{HTTP: http.DefaultClient}).Do(context.Background(), e.base, lookup, map[string]any{"e": c.ext, "u": c.user})
			if err != nil || len(r.Errors) > 0 {
				return "", fmt.Errorf("GraphQL: %v %+v", err, r.Errors)
			}
			var got *struct{ ID, UserID string }
			if err := json.Unmarshal(r.Data["orderByExternalId"], &got); err != nil || got == nil {
				return "", err
			}
			if got.UserID != c.user {
				return "", fmt.Errorf("GraphQL: order of user %s", got.UserID)
			}
			return got.ID, nil
		}
		resp, err := http.Get(e.base + "/orders/by-external/" + c.ext + "?user_id=" + c.user)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return "", nil
		case resp.StatusCode != http.StatusOK:
			return "", fmt.Errorf("REST: %s %s", resp.Status, b)
		}
		var got struct {
			ID     json.Number `json:"id"`
			UserID string      `json:"user_id"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.UserID != c.user {
			return "", fmt.Errorf("REST: %s: %v", b, err)
		}
		return got.ID.String(), nil
	}
	for round := 1; ; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range errs {
			wg.Go(func() {
				c := cases[i%len(cases)]
				got, err := ask(i)
				if want := ids[c.ext+"/"+c.user]; err == nil && got != want {
					err = fmt.Errorf("got order %q; want %q", got, want)
				}
				if err != nil {
					errs[i] = fmt.Errorf("%s of %s: %w", c.ext, c.user, err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			return
		}
		if n := lookupBatches(t, e.base); n > 0 {
			t.Logf("%d rounds of 64 lookups, %.0f statements of several lookups", round, n)
			return
		}
		if round == 20 {
			t.Fatal("no lookups were batched in 20 rounds of 64 concurrent requests: the test did not exercise batches")
		}
	}
}

// lookupBatches reads orderstream_db_lookup_batches_total from the API.
func lookupBatches(t *testing.T, base string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(metricsOf(t, base), "\n") {
		if v, ok := strings.CutPrefix(line, "orderstream_db_lookup_batches_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatal("no orderstream_db_lookup_batches_total on /metrics")
	return 0
}
