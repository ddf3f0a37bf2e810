// Package e2e builds the real API and worker binaries, runs them against the
// throwaway PostgreSQL and the Kafka-protocol broker, and drives them over
// HTTP as a client would. The processes come from the stack launcher
// (internal/devstack), built from config structs; the helpers below keep
// the names the test files use.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/gqltest"
	"github.com/orderstream/orderstream/internal/kafkatest"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/testbin"
)

func TestMain(m *testing.M) { pgtest.Main(m, testbin.Cleanup, kafkatest.Shutdown) }

// binaries builds the API and the worker once per test run.
func binaries(t *testing.T) (api, worker string) { return testbin.Build(t) }

func freePort(t *testing.T) string {
	t.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}

// proc is a running binary whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	done <-chan struct{}
	svc  *devstack.Service
}

// output returns what the process has written so far.
func (p *proc) output() string { return p.svc.Logs() }

// start runs bin with this process's environment plus env, without
// waiting for it; the test's end stops it (SIGTERM) and, when the test
// failed, prints its output.
func start(t *testing.T, name, bin string, env ...string) *proc {
	t.Helper()
	svc := devstack.NewService(devstack.ServiceOptions{Name: name, Bin: bin, Env: append(os.Environ(), env...),
		LogPath: filepath.Join(t.TempDir(), name+".log")})
	if err := svc.StartNoWait(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return track(t, svc)
}

// track wraps a started service as a proc and stops it when the test ends.
func track(t *testing.T, svc *devstack.Service) *proc {
	p := &proc{name: svc.Name(), cmd: svc.Process().Cmd(), done: svc.Done(), svc: svc}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() || os.Getenv("TEST_LOG") != "" {
			t.Logf("--- %s output ---\n%s", p.name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit (SIGKILL after 40 s).
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	err := p.svc.Stop(40 * time.Second)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		t.Errorf("%s exited with %d after SIGTERM; want 0", p.name, exitErr.ExitCode())
	default:
		t.Errorf("%s did not stop within 40 s of SIGTERM: %v", p.name, err)
	}
}

// env is one running OrderStream: infrastructure, a worker and an API.
type env struct {
	t       *testing.T
	base    string
	workerB string
	// common are the environment lines of the processes: the API's
	// configuration rendered (config.API.Env) and the extra lines given to
	// newInfra, which come later and win.
	common []string
	// urls are the database's, by role: the API and the worker connect
	// as their own roles, which row-level security binds, and migrate as
	// the owner, as in production.
	urls   pgtest.URLs
	worker *proc
	// token, when set, is sent as "Authorization: Bearer <token>".
	token string

	stack     *devstack.Stack
	apiCfg    config.API
	workerCfg config.Worker
	extra     []string
	workers   int
}

func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	e := newInfra(t, extra...)
	e.startWorker()
	e.base, _ = e.startAPI("api")
	return e
}

// newInfra prepares a database and topics for one OrderStream, starting nothing.
func newInfra(t *testing.T, extra ...string) *env {
	t.Helper()
	api, worker := binaries(t)
	b := kafkatest.New(t)
	urls := pgtest.NewDBs(t)
	s, err := devstack.StartStack(t.Context(), devstack.StackOptions{
		Dir:      t.TempDir(),
		Database: &devstack.DatabaseURLs{Owner: urls.Owner, API: urls.API, Worker: urls.Worker},
		Broker:   devstack.External(b.Brokers), // kafkatest closes it
		Topics:   devstack.Topics{Orders: b.OrdersTopic, Acks: b.AcksTopic, DLQ: b.DLQTopic},
		APIBin:   api, WorkerBin: worker,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, workerB: worker, urls: urls, stack: s, extra: extra}
	group := "e2e-" + uuid.NewString()[:8]
	e.apiCfg, e.workerCfg = s.APIConfig(), s.WorkerConfig()
	e.workerCfg.Group = group
	for _, c := range []*config.Common{&e.apiCfg.Common, &e.workerCfg.Common} {
		c.LogLevel = "debug"
	}
	// Authentication is tested in auth_test.go; an AUTH_JWT_SECRET in
	// extra turns it on (AUTH_DISABLED is then ignored).
	e.apiCfg.Auth.Disabled = true
	e.common = append(e.apiCfg.Env(), extra...)
	return e
}

// startAPI starts an API instance and returns its base URL once it is ready.
func (e *env) startAPI(name string) (string, *proc) {
	t := e.t
	t.Helper()
	svc, err := e.stack.StartAPI(t.Context(), name, e.apiCfg, e.extra...)
	if err != nil {
		t.Fatalf("API not ready: %v", err)
	}
	return svc.URL(), track(t, svc)
}

// startWorker starts a worker (one more in the group) and waits until it is ready.
func (e *env) startWorker() {
	e.t.Helper()
	e.workers++
	name := "worker"
	if e.workers > 1 {
		name = fmt.Sprintf("worker-%d", e.workers)
	}
	svc, err := e.stack.StartWorker(e.t.Context(), name, e.workerCfg, e.extra...)
	if err != nil {
		e.t.Fatalf("worker not ready: %v", err)
	}
	e.worker = track(e.t, svc)
}

// apiEnv and workerEnv are the environments of an API and a worker (their
// configuration's lines); an extra DATABASE_URL given to newInfra comes
// later and wins.
func (e *env) apiEnv() []string { return append(e.apiCfg.Env(), e.extra...) }

func (e *env) workerEnv() []string { return append(e.workerCfg.Env(), e.extra...) }

// gqlResult is a GraphQL response.
type gqlResult struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqltest.Error            `json:"errors"`
	status int
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func (e *env) graphql(query string, vars map[string]any) gqlResult {
	e.t.Helper()
	return e.graphqlAt(e.base, query, vars)
}

func (e *env) graphqlAt(base, query string, vars map[string]any) gqlResult {
	e.t.Helper()
	c := gqltest.Client{HTTP: http.DefaultClient, Token: e.token}
	r, err := c.Do(context.Background(), base, query, vars)
	if err != nil {
		e.t.Fatalf("GraphQL request: %v", err)
	}
	return gqlResult{Data: r.Data, Errors: r.Errors, status: r.Status}
}

type gqlOrder = gqltest.Order

const orderFields = `id externalId userId status eventId total items { name quantity price } cancelReason`

func decodeField[T any](t *testing.T, r gqlResult, field string) T {
	t.Helper()
	var v T
	if len(r.Errors) > 0 {
		t.Fatalf("%s: unexpected errors %+v", field, r.Errors)
	}
	if err := json.Unmarshal(r.Data[field], &v); err != nil {
		t.Fatalf("decode %s %s: %v", field, r.Data[field], err)
	}
	return v
}

func (e *env) rest(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
	}
	return resp.StatusCode, m
}

func TestGraphQL(t *testing.T) {
	e := newEnv(t)
	user, other := uuid.NewString(), uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { ` + orderFields + ` } } }`
	in := map[string]any{"externalId": "shopify_12345", "userId": user,
		"items": []any{map[string]any{"name": "Product A", "quantity": 2, "price": 29.99}, map[string]any{"name": "B", "quantity": 1, "price": "0.10"}}}

	r := e.graphql(create, map[string]any{"in": in})
	p := decodeField[struct {
		Created bool     `json:"created"`
		Order   gqlOrder `json:"order"`
	}](t, r, "createOrder")
	if !p.Created || p.Order.Status != "DONE" || p.Order.EventID != 0 || p.Order.Total != "60.08" || p.Order.Items[0].Price != "29.99" {
		t.Fatalf("createOrder: got %+v; want created, DONE, eventId 0, total 60.08", p)
	}

	t.Run("IdempotentCreate", func(t *testing.T) {
		r := e.graphql(create, map[string]any{"in": in})
		again := decodeField[struct {
			Created bool     `json:"created"`
			Order   gqlOrder `json:"order"`
		}](t, r, "createOrder")
		if again.Created || again.Order.ID != p.Order.ID {
			t.Errorf("got created=%v id %s; want false and id %s", again.Created, again.Order.ID, p.Order.ID)
		}
		other := map[string]any{"externalId": "shopify_12345", "userId": user, "items": []any{map[string]any{"name": "X", "quantity": 1, "price": 1}}}
		if r := e.graphql(create, map[string]any{"in": other}); r.code() != "CONFLICT" {
			t.Errorf("same externalId, other items: got %+v; want CONFLICT", r.Errors)
		}
	})

	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { ` + orderFields + ` } }`
	t.Run("LookupOwnerAndOther", func(t *testing.T) {
		got := decodeField[*gqlOrder](t, e.graphql(lookup, map[string]any{"e": "shopify_12345", "u": user}), "orderByExternalId")
		if got == nil || got.ID != p.Order.ID {
			t.Fatalf("owner lookup: got %+v; want order %s", got, p.Order.ID)
		}
		none := decodeField[*gqlOrder](t, e.graphql(lookup, map[string]any{"e": "shopify_12345", "u": other}), "orderByExternalId")
		missing := decodeField[*gqlOrder](t, e.graphql(lookup, map[string]any{"e": "no-such-order", "u": other}), "orderByExternalId")
		if none != nil || missing != nil {
			t.Errorf("another user's order: got %+v and missing %+v; want null for both", none, missing)
		}
	})

	t.Run("UpdateAndCancel", func(t *testing.T) {
		upd := `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ` + orderFields + ` } } }`
		r := e.graphql(upd, map[string]any{"in": map[string]any{"externalId": "shopify_12345", "userId": user, "expectedEventId": 0,
			"items": []any{map[string]any{"name": "C", "quantity": 3, "price": "5"}}}})
		u := decodeField[struct {
			Order gqlOrder `json:"order"`
		}](t, r, "updateOrder")
		if u.Order.Status != "DONE" || u.Order.EventID != 1 || u.Order.Total != "15.00" {
			t.Fatalf("updateOrder: got %+v; want DONE, eventId 1, total 15.00", u.Order)
		}
		if r := e.graphql(upd, map[string]any{"in": map[string]any{"externalId": "shopify_12345", "userId": other,
			"items": []any{map[string]any{"name": "C", "quantity": 3, "price": "5"}}}}); r.code() != "NOT_FOUND" {
			t.Errorf("update by another user: got %+v; want NOT_FOUND", r.Errors)
		}
		cancel := `mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { ` + orderFields + ` } } }`
		c := decodeField[struct {
			Order gqlOrder `json:"order"`
		}](t, e.graphql(cancel, map[string]any{"in": map[string]any{"externalId": "shopify_12345", "userId": user, "reason": "out of stock"}}), "cancelOrder")
		if c.Order.Status != "CANCELLED" || c.Order.EventID != 2 || c.Order.CancelReason == nil || *c.Order.CancelReason != "out of stock" {
			t.Fatalf("cancelOrder: got %+v; want CANCELLED, eventId 2, the reason", c.Order)
		}
		if r := e.graphql(upd, map[string]any{"in": map[string]any{"externalId": "shopify_12345", "userId": user,
			"items": []any{map[string]any{"name": "C", "quantity": 1, "price": "5"}}}}); r.code() != "CONFLICT" {
			t.Errorf("update after cancel: got %+v; want CONFLICT", r.Errors)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		bad := map[string]any{"externalId": "x", "userId": "not-a-uuid", "items": []any{map[string]any{"name": "A", "quantity": 1, "price": 1}}}
		r := e.graphql(create, map[string]any{"in": bad})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "userId" {
			t.Errorf("bad userId: got %+v; want BAD_USER_INPUT on userId", r.Errors)
		}
		bad = map[string]any{"externalId": "x", "userId": user, "items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.999"}}}
		if r := e.graphql(create, map[string]any{"in": bad}); r.code() != "BAD_USER_INPUT" {
			t.Errorf("3-decimal price: got %+v; want BAD_USER_INPUT", r.Errors)
		}
		bad = map[string]any{"externalId": "x", "userId": user, "items": []any{}}
		if r := e.graphql(create, map[string]any{"in": bad}); r.code() != "BAD_USER_INPUT" {
			t.Errorf("no items: got %+v; want BAD_USER_INPUT", r.Errors)
		}
		if r := e.graphql(lookup, map[string]any{"e": "x", "u": user}); len(r.Errors) != 0 {
			t.Errorf("nothing was created by bad input, lookup errors: %+v", r.Errors)
		} else if got := decodeField[*gqlOrder](t, r, "orderByExternalId"); got != nil {
			t.Errorf("bad input created an order: %+v", got)
		}
	})

	t.Run("VariableOfWrongType", func(t *testing.T) {
		bad := map[string]any{"externalId": "x", "userId": user, "items": []any{map[string]any{"name": "A", "quantity": "abc", "price": 1}}}
		r := e.graphql(create, map[string]any{"in": bad})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "in.items[0].quantity" {
			t.Errorf("quantity \"abc\": got %+v; want BAD_USER_INPUT on in.items[0].quantity", r.Errors)
		}
	})

	t.Run("TransportErrors", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, ctype, body string
			status                    int
			code                      string
		}{
			{"MalformedJSON", "POST", "application/json", `{"query": "secret-token-123`, 400, "BAD_REQUEST"},
			{"JSONArrayBatch", "POST", "application/json", `[{"query": "{ __typename }"}]`, 400, "BAD_REQUEST"},
			{"TextPlain", "POST", "text/plain", `{"query": "{ __typename }"}`, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"FormURLEncoded", "POST", "application/x-www-form-urlencoded", `query=%7B__typename%7D`, 415, "UNSUPPORTED_MEDIA_TYPE"},
			{"PUT", "PUT", "application/json", `{"query": "{ __typename }"}`, 405, "METHOD_NOT_ALLOWED"},
			{"TooLarge", "POST", "application/json", `{"query": "` + strings.Repeat("a", 2<<20) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, e.base+"/graphql", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", tc.ctype)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var r gqlResult
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatalf("decode %q: %v", b, err)
				}
				if resp.StatusCode != tc.status || r.code() != tc.code {
					t.Errorf("got HTTP %d %s; want %d %s", resp.StatusCode, b, tc.status, tc.code)
				}
				if strings.Contains(string(b), "secret-token-123") {
					t.Errorf("the error echoes the request body: %s", b)
				}
			})
		}
	})

	t.Run("MutationOverGETRefused", func(t *testing.T) {
		q := url.Values{"query": {`mutation { cancelOrder(input: {externalId: "shopify_12345", userId: "` + user + `"}) { order { id } } }`}}
		resp, err := http.Get(e.base + "/graphql?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("mutation over GET: got HTTP %d; want a 4xx", resp.StatusCode)
		}
	})
}

func TestREST(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	body := map[string]any{"external_id": "shopify_12345", "user_id": user,
		"payload": map[string]any{"items": []any{map[string]any{"name": "Product A", "quantity": 2, "price": 29.99}}}}

	status, o := e.rest("POST", "/orders", body)
	if status != 201 || o["status"] != "done" || o["event_id"] != 0.0 || o["total"] != 59.98 {
		t.Fatalf("POST /orders: got %d %v; want 201, done, event 0, total 59.98", status, o)
	}
	if status, again := e.rest("POST", "/orders", body); status != 200 || again["id"] != o["id"] {
		t.Errorf("repeated POST: got %d %v; want 200 and the same order", status, again)
	}
	path := "/orders/by-external/shopify_12345?user_id=" + user
	if status, got := e.rest("GET", path, nil); status != 200 || got["id"] != o["id"] {
		t.Errorf("GET: got %d %v; want 200 and the order", status, got)
	}
	if status, got := e.rest("GET", "/orders/by-external/shopify_12345?user_id="+uuid.NewString(), nil); status != 404 || got["error"] == nil {
		t.Errorf("GET as another user: got %d %v; want 404 with an error", status, got)
	}
	for _, q := range []string{"", "?user_id=nope"} {
		if status, got := e.rest("GET", "/orders/by-external/shopify_12345"+q, nil); status != 400 {
			t.Errorf("GET with user_id %q: got %d %v; want 400", q, status, got)
		}
	}
	status, u := e.rest("PUT", path, map[string]any{"payload": map[string]any{"items": []any{map[string]any{"name": "B", "quantity": 1, "price": "10.50"}}}})
	if status != 200 || u["event_id"] != 1.0 || u["total"] != 10.5 {
		t.Errorf("PUT: got %d %v; want 200, event 1, total 10.50", status, u)
	}
	status, c := e.rest("DELETE", path, nil)
	if status != 200 || c["status"] != "cancelled" {
		t.Errorf("DELETE: got %d %v; want 200 cancelled", status, c)
	}
	status, errBody := e.rest("POST", "/orders", map[string]any{"external_id": "shopify_12345", "user_id": user,
		"payload": map[string]any{"items": []any{map[string]any{"name": "Other", "quantity": 1, "price": 1}}}})
	if errObj, _ := errBody["error"].(map[string]any); status != 409 || errObj["code"] != "CONFLICT" {
		t.Errorf("POST with other items: got %d %v; want 409 CONFLICT", status, errBody)
	}
	status, errBody = e.rest("POST", "/orders", map[string]any{"external_id": "y", "user_id": user, "extra": true,
		"payload": map[string]any{"items": []any{map[string]any{"name": "A", "quantity": 1, "price": 1}}}})
	if status != 400 {
		t.Errorf("unknown field: got %d %v; want 400", status, errBody)
	}
}

// TestAckTimeout stops the worker: a create times out with ACK_TIMEOUT and
// the order's state, the order is kept, and once a worker runs again it
// completes and a retry returns it.
func TestAckTimeout(t *testing.T) {
	e := newEnv(t, "ACK_TIMEOUT=2s")
	user := uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { ` + orderFields + ` } } }`
	in := map[string]any{"externalId": "slow-1", "userId": user, "items": []any{map[string]any{"name": "A", "quantity": 1, "price": "3.50"}}}
	// The worker works: warm up.
	decodeField[json.RawMessage](t, e.graphql(create, map[string]any{"in": map[string]any{"externalId": "warm", "userId": user,
		"items": []any{map[string]any{"name": "A", "quantity": 1, "price": 1}}}}), "createOrder")

	e.worker.stop(t)
	r := e.graphql(create, map[string]any{"in": in})
	if r.code() != "ACK_TIMEOUT" {
		t.Fatalf("create without worker: got %+v; want ACK_TIMEOUT", r.Errors)
	}
	ext := r.Errors[0].Extensions
	if ext["orderId"] == nil || ext["status"] != "NEW" {
		t.Errorf("ACK_TIMEOUT extensions: got %v; want orderId and status NEW", ext)
	}

	e.startWorker()
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { ` + orderFields + ` } }`
	deadline := time.Now().Add(45 * time.Second)
	for {
		got := decodeField[*gqlOrder](t, e.graphql(lookup, map[string]any{"e": "slow-1", "u": user}), "orderByExternalId")
		if got == nil {
			t.Fatal("the timed-out order is lost")
		}
		if got.Status == "DONE" {
			if got.ID != ext["orderId"] {
				t.Errorf("got order %s; want %v", got.ID, ext["orderId"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order still %s 45 s after the worker restarted", got.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p := decodeField[struct {
		Created bool     `json:"created"`
		Order   gqlOrder `json:"order"`
	}](t, e.graphql(create, map[string]any{"in": in}), "createOrder")
	if p.Created || p.Order.Status != "DONE" || p.Order.ID != ext["orderId"] {
		t.Errorf("retry: got %+v; want the existing order, DONE", p)
	}
}

// TestSeveralInstances runs two API instances and two workers against the
// same database and topics: every request through either API gets its own
// answer, and an order created through one is updated through the other.
func TestSeveralInstances(t *testing.T) {
	e := newInfra(t)
	e.startWorker()
	e.startWorker()
	base1, _ := e.startAPI("api-1")
	base2, _ := e.startAPI("api-2")
	bases := []string{base1, base2}
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { ` + orderFields + ` } } }`
	update := `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ` + orderFields + ` } } }`
	user := uuid.NewString()
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ext := fmt.Sprintf("multi-%d", i)
			price := fmt.Sprintf("%d.00", i+1)
			item := []any{map[string]any{"name": "A", "quantity": 1, "price": price}}
			r := e.graphqlAt(bases[i%2], create, map[string]any{"in": map[string]any{"externalId": ext, "userId": user, "items": item}})
			if len(r.Errors) > 0 {
				t.Errorf("%s: create: %+v", ext, r.Errors)
				return
			}
			var p struct{ Order gqlOrder }
			json.Unmarshal(r.Data["createOrder"], &p)
			if p.Order.ExternalID != ext || p.Order.Status != "DONE" || p.Order.Total != price {
				t.Errorf("%s: got %+v; want its own order, DONE, total %s", ext, p.Order, price)
			}
			r = e.graphqlAt(bases[(i+1)%2], update, map[string]any{"in": map[string]any{"externalId": ext, "userId": user, "expectedEventId": 0,
				"items": []any{map[string]any{"name": "B", "quantity": 2, "price": price}}}})
			if len(r.Errors) > 0 {
				t.Errorf("%s: update through the other API: %+v", ext, r.Errors)
				return
			}
			json.Unmarshal(r.Data["updateOrder"], &p)
			if p.Order.ExternalID != ext || p.Order.EventID != 1 || p.Order.Status != "DONE" {
				t.Errorf("%s: update got %+v; want eventId 1, DONE", ext, p.Order)
			}
		}()
	}
	wg.Wait()
}

// TestGracefulShutdown sends SIGTERM to the API while a createOrder waits
// for the worker: the API stops taking connections but lets the request
// finish (here: once a worker runs again), then exits 0.
func TestGracefulShutdown(t *testing.T) {
	e := newInfra(t, "ACK_TIMEOUT=20s")
	base, p := e.startAPI("api")
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { ` + orderFields + ` } } }`
	user := uuid.NewString()
	in := map[string]any{"externalId": "in-flight", "userId": user, "items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}
	result := make(chan gqlResult, 1)
	go func() { result <- e.graphqlAt(base, create, map[string]any{"in": in}) }()
	// Wait until the request is stored and waits for the ACK (no worker runs).
	lookup := `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { id } }`
	for deadline := time.Now().Add(20 * time.Second); ; {
		r := e.graphqlAt(base, lookup, map[string]any{"e": "in-flight", "u": user})
		if len(r.Errors) == 0 && string(r.Data["orderByExternalId"]) != "null" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the in-flight order was never stored")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if resp, err := http.Get(base + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("the API still takes new requests after SIGTERM")
		}
	}
	select {
	case <-p.done:
		t.Fatal("the API exited with a request in flight")
	default:
	}
	e.startWorker()
	select {
	case r := <-result:
		var got struct{ Order gqlOrder }
		if len(r.Errors) > 0 || json.Unmarshal(r.Data["createOrder"], &got) != nil || got.Order.Status != "DONE" {
			t.Errorf("in-flight request: got %+v %s; want DONE", r.Errors, r.Data["createOrder"])
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight request did not finish")
	}
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("API exit code %d; want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("the API did not exit after draining")
	}
}

// TestMetrics checks that the API and the worker export what operators
// watch: GraphQL operations by outcome, ACK waits, worker batches.
func TestMetrics(t *testing.T) {
	e := newInfra(t)
	_, workerBin := binaries(t)
	wport := freePort(t)
	start(t, "worker", workerBin, append(e.workerEnv(), "HEALTH_PORT="+wport)...)
	e.base, _ = e.startAPI("api")
	user := uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id } } }`
	decodeField[json.RawMessage](t, e.graphql(create, map[string]any{"in": map[string]any{"externalId": "m-1", "userId": user,
		"items": []any{map[string]any{"name": "A", "quantity": 1, "price": 1}}}}), "createOrder")
	e.graphql(create, map[string]any{"in": map[string]any{"externalId": "m-2", "userId": "bad", "items": []any{}}})

	api := metricsOf(t, e.base)
	for _, want := range []string{
		`orderstream_graphql_operations_total{operation="createOrder",outcome="OK",service="api"} 1`,
		`orderstream_graphql_operations_total{operation="createOrder",outcome="BAD_USER_INPUT",service="api"} 1`,
		`orderstream_ack_wait_seconds_count{result="ok",service="api"} 1`,
		`orderstream_ack_waiters{service="api"} 0`,
		`orderstream_http_requests_total{route="/graphql",service="api",status="200"}`,
		`orderstream_db_pool_max_conns`,
		`orderstream_db_lookup_batches_total 0`, // no lookups here: none batched
		"orderstream_db_batch_stalls_total ",    // its value depends on the machine: a first statement may take 10 ms
		`go_goroutines`,
	} {
		if !strings.Contains(api, want) {
			t.Errorf("API /metrics lacks %s", want)
		}
	}
	// The worker records a batch once its ACKs are produced, which is also
	// when the API may already have answered: poll briefly.
	wants := []string{
		`orderstream_worker_events_total{result="ok",service="worker"} 1`,
		// The create's message carried its items: applied in one round trip.
		`orderstream_worker_creates_from_messages_total{service="worker"} 1`,
		`orderstream_worker_batch_size_count{service="worker"} 1`,
		`orderstream_consumer_lag{partition=`,
		"orderstream_worker_merge_stalls_total ",
	}
	var worker string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		worker = metricsOf(t, "http://127.0.0.1:"+wport)
		if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(worker, w) }) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(worker, want) {
			t.Errorf("worker /metrics lacks %s", want)
		}
	}
}

// TestQueryLimitsAndCORS sends abusive queries and browser preflights.
func TestQueryLimitsAndCORS(t *testing.T) {
	e := newInfra(t, "CORS_ALLOWED_ORIGINS=https://shop.example", "APP_ENV=production")
	e.startWorker()
	e.base, _ = e.startAPI("api")
	user := uuid.NewString()
	var aliases, typenames strings.Builder
	aliases.WriteString("{")
	typenames.WriteString("{")
	for i := range 500 {
		fmt.Fprintf(&aliases, ` o%d: orderByExternalId(externalId: "x", userId: "%s") { id }`, i, user)
		fmt.Fprintf(&typenames, ` t%d: __typename`, i)
	}
	aliases.WriteString("}")
	typenames.WriteString("}")
	deep := "{ __typename " + strings.Repeat("... on Query { ", 60) + "__typename" + strings.Repeat(" }", 60) + " }"
	nested := `{ orderByExternalId(externalId: "x", userId: "` + user + `") { items { name } } }`
	tokens := "{ " + strings.Repeat("__typename ", 20_000) + "}"
	for _, tc := range []struct {
		name, query string
		code        string
	}{
		{"500LookupAliases", aliases.String(), "COMPLEXITY_LIMIT_EXCEEDED"},
		{"500TypenameAliases", typenames.String(), "QUERY_TOO_LARGE"},
		{"20kTokens", tokens, "GRAPHQL_PARSE_FAILED"},
		{"IntrospectionOff", `{ __schema { types { name } } }`, "GRAPHQL_VALIDATION_FAILED"},
		{"Allowed", nested, ""},
		{"DeepFragments", deep, ""}, // inline fragments add no depth
		{"NoSuggestions", `{ orderByExternalID(externalId: "x", userId: "` + user + `") { id } }`, "GRAPHQL_VALIDATION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.graphql(tc.query, nil)
			if r.code() != tc.code {
				t.Errorf("got %+v; want code %q", r.Errors, tc.code)
			}
			for _, err := range r.Errors {
				if strings.Contains(err.Message, "Did you mean") {
					t.Errorf("production leaks the schema in a suggestion: %q", err.Message)
				}
			}
		})
	}

	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, e.base+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type") // as browsers send it
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := preflight("https://shop.example"); h.Get("Access-Control-Allow-Origin") != "https://shop.example" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed origin: got headers %v; want it allowed, without credentials", h)
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: got Access-Control-Allow-Origin %q; want none", h.Get("Access-Control-Allow-Origin"))
	}
}

// TestListing pages through a user's orders and reads one by id.
func TestListing(t *testing.T) {
	e := newEnv(t)
	user, other := uuid.NewString(), uuid.NewString()
	create := `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id } } }`
	var ids []string
	for i := range 3 {
		r := e.graphql(create, map[string]any{"in": map[string]any{"externalId": fmt.Sprintf("l-%d", i), "userId": user,
			"items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
		p := decodeField[struct{ Order gqlOrder }](t, r, "createOrder")
		ids = append(ids, p.Order.ID)
	}
	e.graphql(create, map[string]any{"in": map[string]any{"externalId": "l-x", "userId": other,
		"items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
	e.graphql(`mutation($u: ID!) { cancelOrder(input: {externalId: "l-0", userId: $u}) { order { id } } }`, map[string]any{"u": user})

	type conn struct {
		Edges []struct {
			Cursor string
			Node   gqlOrder
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
	list := `query($u: ID!, $first: Int, $after: String, $status: OrderStatus) {
		orders(userId: $u, first: $first, after: $after, status: $status) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`
	page1 := decodeField[conn](t, e.graphql(list, map[string]any{"u": user, "first": 2}), "orders")
	if len(page1.Edges) != 2 || page1.Edges[0].Node.ID != ids[2] || page1.Edges[1].Node.ID != ids[1] || !page1.PageInfo.HasNextPage {
		t.Fatalf("page 1: got %+v; want orders %s, %s and a next page", page1, ids[2], ids[1])
	}
	page2 := decodeField[conn](t, e.graphql(list, map[string]any{"u": user, "first": 2, "after": *page1.PageInfo.EndCursor}), "orders")
	if len(page2.Edges) != 1 || page2.Edges[0].Node.ID != ids[0] || page2.PageInfo.HasNextPage {
		t.Fatalf("page 2: got %+v; want order %s and no next page", page2, ids[0])
	}
	cancelled := decodeField[conn](t, e.graphql(list, map[string]any{"u": user, "status": "CANCELLED"}), "orders")
	if len(cancelled.Edges) != 1 || cancelled.Edges[0].Node.ID != ids[0] {
		t.Errorf("status CANCELLED: got %+v; want order %s", cancelled, ids[0])
	}
	if r := e.graphql(list, map[string]any{"u": user, "first": 1000}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("first 1000: got %+v; want BAD_USER_INPUT", r.Errors)
	}
	if r := e.graphql(list, map[string]any{"u": user, "after": "garbage!"}); r.code() != "BAD_USER_INPUT" {
		t.Errorf("bad cursor: got %+v; want BAD_USER_INPUT", r.Errors)
	}
	byID := `query($id: ID!, $u: ID!) { order(id: $id, userId: $u) { id externalId } }`
	if got := decodeField[*gqlOrder](t, e.graphql(byID, map[string]any{"id": ids[1], "u": user}), "order"); got == nil || got.ExternalID != "l-1" {
		t.Errorf("order by id: got %+v; want l-1", got)
	}
	if got := decodeField[*gqlOrder](t, e.graphql(byID, map[string]any{"id": ids[1], "u": other}), "order"); got != nil {
		t.Errorf("another user's order by id: got %+v; want null", got)
	}
}

// TestPublishedSDL: partners fetch the schema they integrate against.
func TestPublishedSDL(t *testing.T) {
	e := newEnv(t, "APP_ENV=production")
	resp, err := http.Get(e.base + "/graphql/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "  orderByExternalId(\n") {
		t.Errorf("GET /graphql/schema.graphql: got %d %.200s; want the SDL", resp.StatusCode, b)
	}
}
