package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/auth"
)

const e2eSecret = "e2e-secret-0123456789abcdef0123456789abcdef"

// as returns e sending token as its bearer token ("" for none).
func (e *env) as(token string) *env {
	c := *e
	c.token = token
	return &c
}

func mint(t *testing.T, secret, sub, scope string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: sub, Scope: scope, TTL: ttl, Issuer: "e2e", Audience: "orderstream"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// algNone is an unsigned token (alg "none") for sub.
func algNone(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(map[string]any{"sub": sub, "iss": "e2e", "aud": "orderstream", "exp": time.Now().Add(time.Hour).Unix()})
	return enc(h) + "." + enc(c) + "."
}

// raw sends a request with an optional bearer token and returns the status,
// the WWW-Authenticate header and the body.
func (e *env) raw(method, path, token, body string) (int, string, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b
}

// TestAuth runs the API with authentication on (HS256 secret, issuer and
// audience): no or bad token → 401 UNAUTHENTICATED; a token binds the
// userId of every operation to its subject; another user's order is
// answered exactly like a missing one and stays unchanged; an admin-scope
// token acts for any user.
func TestAuth(t *testing.T) {
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "AUTH_ISSUER=e2e", "AUTH_AUDIENCE=orderstream")
	userA, userB := uuid.NewString(), uuid.NewString()
	tokA := mint(t, e2eSecret, userA, "", time.Hour)
	tokB := mint(t, e2eSecret, userB, "orders:read", time.Hour)
	admin := mint(t, e2eSecret, uuid.NewString(), "orders:admin", time.Hour)
	a, b, adm := e.as(tokA), e.as(tokB), e.as(admin)

	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { ` + orderFields + ` } } }`
	update := `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ` + orderFields + ` } } }`
	cancel := `mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { ` + orderFields + ` } } }`
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { ` + orderFields + ` } }`
	items := []any{map[string]any{"name": "Product A", "quantity": 2, "price": "29.99"}}
	gqlBody := `{"query": "{ orderByExternalId(externalId: \"x\", userId: \"` + userA + `\") { id } }"}`

	t.Run("Unauthenticated", func(t *testing.T) {
		for name, token := range map[string]string{
			"NoToken":     "",
			"Expired":     mint(t, e2eSecret, userA, "", -time.Minute),
			"OtherSecret": mint(t, "another-secret-0123456789abcdef0123456789", userA, "", time.Hour),
			"AlgNone":     algNone(userA),
			"WrongIssuer": func() string {
				s, _ := auth.Mint([]byte(e2eSecret), auth.MintOptions{Subject: userA, Issuer: "evil", Audience: "orderstream"})
				return s
			}(),
			"Garbage":      "not.a.jwt",
			"SubjectEmail": mint(t, e2eSecret, "alice@example.com", "", time.Hour),
		} {
			t.Run(name, func(t *testing.T) {
				status, challenge, body := e.raw("POST", "/graphql", token, gqlBody)
				var r gqlResult
				json.Unmarshal(body, &r)
				if status != 401 || r.code() != "UNAUTHENTICATED" || !strings.HasPrefix(challenge, "Bearer") {
					t.Errorf("GraphQL: got %d %q %s; want 401 UNAUTHENTICATED with WWW-Authenticate: Bearer", status, challenge, body)
				}
				status, challenge, body = e.raw("GET", "/orders/by-external/x?user_id="+userA, token, "")
				var rb struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				json.Unmarshal(body, &rb)
				if status != 401 || rb.Error.Code != "UNAUTHENTICATED" || rb.Error.Message == "" || !strings.HasPrefix(challenge, "Bearer") {
					t.Errorf("REST: got %d %q %s; want 401 {error: {code: UNAUTHENTICATED}} with WWW-Authenticate: Bearer", status, challenge, body)
				}
			})
		}
	})

	t.Run("OpenEndpoints", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if status, _, body := e.raw("GET", path, "", ""); status != 200 {
				t.Errorf("GET %s without a token: got %d %.200s; want 200", path, status, body)
			}
		}
	})

	// User A creates an order with its own token.
	in := map[string]any{"externalId": "auth-1", "userId": userA, "items": items}
	p := decodeField[struct {
		Created bool     `json:"created"`
		Order   gqlOrder `json:"order"`
	}](t, a.graphql(create, map[string]any{"in": in}), "createOrder")
	if !p.Created || p.Order.Status != "DONE" || p.Order.UserID != userA {
		t.Fatalf("createOrder with A's token: got %+v; want created, DONE", p)
	}
	orig := p.Order

	t.Run("OtherUsersOrderLikeMissing", func(t *testing.T) {
		// Lookup: null for A's order and for a missing one.
		for _, ext := range []string{"auth-1", "no-such-order"} {
			if got := decodeField[*gqlOrder](t, b.graphql(lookup, map[string]any{"e": ext, "u": userA}), "orderByExternalId"); got != nil {
				t.Errorf("B looks up A's %q: got %+v; want null", ext, got)
			}
		}
		// Update and cancel: the same NOT_FOUND error as for a missing order.
		errorsOf := func(r gqlResult) any {
			if len(r.Errors) == 0 {
				return r.Data
			}
			return []any{r.Errors[0].Message, r.Errors[0].Extensions}
		}
		for _, op := range []struct {
			name, query string
			in          func(ext string) map[string]any
		}{
			{"updateOrder", update, func(ext string) map[string]any {
				return map[string]any{"externalId": ext, "userId": userA, "items": []any{map[string]any{"name": "X", "quantity": 1, "price": 1}}}
			}},
			{"cancelOrder", cancel, func(ext string) map[string]any {
				return map[string]any{"externalId": ext, "userId": userA, "reason": "mine now"}
			}},
		} {
			hit := b.graphql(op.query, map[string]any{"in": op.in("auth-1")})
			again := b.graphql(op.query, map[string]any{"in": op.in("auth-1")})
			missing := a.graphql(op.query, map[string]any{"in": op.in("no-such-order")}) // A, own missing order
			if hit.code() != "NOT_FOUND" {
				t.Errorf("%s of A's order with B's token: got %+v; want NOT_FOUND", op.name, hit.Errors)
			}
			// Messages name the externalId; compare with a missing order of the same name.
			want := errorsOf(missing)
			got := errorsOf(hit)
			wantS, _ := json.Marshal(want)
			gotS, _ := json.Marshal(got)
			if strings.ReplaceAll(string(gotS), "auth-1", "no-such-order") != string(wantS) || !reflect.DeepEqual(errorsOf(again), got) {
				t.Errorf("%s: B on A's order answered %s; a missing order answers %s", op.name, gotS, wantS)
			}
		}
		// Create for A with B's token: refused (FORBIDDEN), whether or not A
		// has an order with that externalId, and never returns A's order.
		for _, ext := range []string{"auth-1", "auth-new"} {
			r := b.graphql(create, map[string]any{"in": map[string]any{"externalId": ext, "userId": userA, "items": items}})
			if r.code() != "FORBIDDEN" || strings.Contains(string(r.Data["createOrder"]), "auth-1") {
				t.Errorf("B creates %q for A: got %+v %s; want FORBIDDEN and no order", ext, r.Errors, r.Data["createOrder"])
			}
		}
		// REST: GET/PUT/DELETE of A's order answer like a missing one; POST for A is 403.
		restHit := func(method, ext, body string) (int, string) {
			status, _, b := e.raw(method, "/orders/by-external/"+ext+"?user_id="+userA, tokB, body)
			return status, strings.ReplaceAll(string(b), ext, "EXT")
		}
		restMissing := func(method, ext, body string) (int, string) {
			status, _, b := e.raw(method, "/orders/by-external/"+ext+"?user_id="+userA, tokA, body)
			return status, strings.ReplaceAll(string(b), ext, "EXT")
		}
		for _, m := range []struct{ method, body string }{
			{"GET", ""}, {"PUT", `{"payload": {"items": [{"name": "X", "quantity": 1, "price": 1}]}}`}, {"DELETE", ""},
		} {
			hs, hb := restHit(m.method, "auth-1", m.body)
			ms, mb := restMissing(m.method, "no-such-order", m.body)
			if hs != 404 || hs != ms || hb != mb {
				t.Errorf("REST %s of A's order with B's token: got %d %s; a missing order answers %d %s", m.method, hs, hb, ms, mb)
			}
		}
		status, _, body := e.raw("POST", "/orders", tokB, `{"external_id": "auth-1", "user_id": "`+userA+`", "payload": {"items": [{"name": "Product A", "quantity": 2, "price": "29.99"}]}}`)
		if status != 403 || !strings.Contains(string(body), `"FORBIDDEN"`) || strings.Contains(string(body), `"id"`) {
			t.Errorf("REST POST for A with B's token: got %d %s; want 403 FORBIDDEN", status, body)
		}

		// Nothing changed: the admin sees A's order as it was, and no auth-new.
		got := decodeField[*gqlOrder](t, adm.graphql(lookup, map[string]any{"e": "auth-1", "u": userA}), "orderByExternalId")
		if got == nil || !reflect.DeepEqual(*got, orig) {
			t.Errorf("A's order after B's attempts: got %+v; want unchanged %+v", got, orig)
		}
		if got := decodeField[*gqlOrder](t, adm.graphql(lookup, map[string]any{"e": "auth-new", "u": userA}), "orderByExternalId"); got != nil {
			t.Errorf("B created an order for A: %+v", got)
		}
	})

	t.Run("OwnerEndToEnd", func(t *testing.T) {
		if got := decodeField[*gqlOrder](t, a.graphql(lookup, map[string]any{"e": "auth-1", "u": userA}), "orderByExternalId"); got == nil || got.ID != orig.ID {
			t.Fatalf("A looks up its order: got %+v; want %s", got, orig.ID)
		}
		if status, o := a.rest("GET", "/orders/by-external/auth-1?user_id="+userA, nil); status != 200 || o["user_id"] != userA {
			t.Errorf("REST GET with A's token: got %d %v; want 200", status, o)
		}
		u := decodeField[struct {
			Order gqlOrder `json:"order"`
		}](t, a.graphql(update, map[string]any{"in": map[string]any{"externalId": "auth-1", "userId": userA, "expectedEventId": 0,
			"items": []any{map[string]any{"name": "C", "quantity": 1, "price": "5"}}}}), "updateOrder")
		if u.Order.EventID != 1 || u.Order.Status != "DONE" {
			t.Errorf("A updates its order: got %+v; want DONE, eventId 1", u.Order)
		}
		if status, o := a.rest("POST", "/orders", map[string]any{"external_id": "auth-rest", "user_id": userA,
			"payload": map[string]any{"items": items}}); status != 201 {
			t.Errorf("REST POST with A's token: got %d %v; want 201", status, o)
		}
	})

	t.Run("AdminActsForAnyUser", func(t *testing.T) {
		got := decodeField[*gqlOrder](t, adm.graphql(lookup, map[string]any{"e": "auth-1", "u": userA}), "orderByExternalId")
		if got == nil || got.UserID != userA {
			t.Fatalf("admin reads A's order: got %+v; want it", got)
		}
		if status, o := adm.rest("GET", "/orders/by-external/auth-1?user_id="+userA, nil); status != 200 {
			t.Errorf("admin REST GET: got %d %v; want 200", status, o)
		}
		c := decodeField[struct {
			Order gqlOrder `json:"order"`
		}](t, adm.graphql(cancel, map[string]any{"in": map[string]any{"externalId": "auth-1", "userId": userA, "reason": "partner"}}), "cancelOrder")
		if c.Order.Status != "CANCELLED" {
			t.Errorf("admin cancels A's order: got %+v; want CANCELLED", c.Order)
		}
	})
}

// TestAuthRequiredToStart: with no AUTH_JWT_SECRET, AUTH_JWKS_FILE or
// AUTH_DISABLED=true, the API refuses to start and says why.
func TestAuthRequiredToStart(t *testing.T) {
	api, _ := binaries(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTH_") {
			env = append(env, kv)
		}
	}
	for name, extra := range map[string][]string{
		"NoConfig":    nil,
		"ShortSecret": {"AUTH_JWT_SECRET=short"},
		"MissingJWKS": {"AUTH_JWKS_FILE=/nonexistent/jwks.json"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(api)
			cmd.Env = append(append(append([]string{}, env...), "PORT="+freePort(t), "STARTUP_TIMEOUT=5s"), extra...)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the API did not exit within 30 s: %s", out)
			}
			if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "AUTH_") {
				t.Errorf("got %v, output %s; want exit status 2 and a message naming the AUTH_ variables", err, out)
			}
		})
	}
}

// TestRateLimit: each authenticated user has a token bucket; over it the
// API answers 429 RATE_LIMITED with Retry-After, other users are not
// affected, and the bucket refills.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "AUTH_ISSUER=e2e", "AUTH_AUDIENCE=orderstream",
		"RATE_LIMIT_RPS=2", "RATE_LIMIT_BURST=3")
	alice, bob := mint(t, e2eSecret, uuid.NewString(), "", time.Hour), mint(t, e2eSecret, uuid.NewString(), "", time.Hour)
	body := `{"query": "{ __typename }"}`
	for i := range 3 {
		if status, _, b := e.raw("POST", "/graphql", alice, body); status != 200 {
			t.Fatalf("request %d of the burst: got %d %s; want 200", i+1, status, b)
		}
	}
	req, _ := http.NewRequest("POST", e.base+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"RATE_LIMITED"`) {
		t.Fatalf("4th request: got %d Retry-After %q %s; want 429 RATE_LIMITED with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if status, _, b := e.raw("GET", "/orders/by-external/x?user_id="+uuid.NewString(), alice, ""); status != http.StatusTooManyRequests {
		t.Errorf("REST over the limit: got %d %s; want 429", status, b)
	}
	if status, _, b := e.raw("POST", "/graphql", bob, body); status != 200 {
		t.Errorf("another user: got %d %s; want 200", status, b)
	}
	time.Sleep(600 * time.Millisecond) // 2 per second: a token is back
	if status, _, b := e.raw("POST", "/graphql", alice, body); status != 200 {
		t.Errorf("after the refill: got %d %s; want 200", status, b)
	}
}
