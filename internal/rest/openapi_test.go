package rest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/openapitest"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/ratelimit"
	"github.com/orderstream/orderstream/internal/rest"
)

// memStore is an in-memory order.Store with the contract's behaviour, and
// err, when set, as the answer of every call (NOT_FOUND, UNAVAILABLE, a
// bug). The REST tests need answers, not PostgreSQL: the store has its
// own tests.
type memStore struct {
	mu     sync.Mutex
	orders map[[2]string]order.Order
	nextID int64
	err    error
}

func (s *memStore) fail() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *memStore) CreateOrder(ctx context.Context, in order.CreateInput, total order.Decimal) (order.Order, order.Event, bool, error) {
	if err := s.fail(); err != nil {
		return order.Order{}, order.Event{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{in.ExternalID, in.UserID}
	if o, ok := s.orders[k]; ok {
		return o, order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Type: order.EventCreate, Items: o.Items}, false, nil
	}
	s.nextID++
	now := time.Now().UTC()
	o := order.Order{ID: s.nextID, ExternalID: in.ExternalID, UserID: in.UserID, Status: order.StatusNew, AppliedEventID: -1,
		LastEventType: order.EventCreate, Items: in.Items, Total: total, CreatedAt: now, UpdatedAt: now}
	s.orders[k] = o
	return o, order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Type: order.EventCreate, Items: in.Items}, true, nil
}

func (s *memStore) AppendEvent(ctx context.Context, externalID, userID string, decide func(order.Order) (*order.Event, error)) (order.Order, *order.Event, error) {
	if err := s.fail(); err != nil {
		return order.Order{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{externalID, userID}
	o, ok := s.orders[k]
	if !ok {
		return order.Order{}, nil, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	ev, err := decide(o)
	if err != nil || ev == nil {
		return o, nil, err
	}
	o.EventID++
	o.Status, o.LastEventType = order.StatusNew, ev.Type
	ev.OrderID, ev.ExternalID, ev.UserID, ev.EventID = o.ID, o.ExternalID, o.UserID, o.EventID
	s.orders[k] = o
	return o, ev, nil
}

func (s *memStore) OrderByExternalID(ctx context.Context, externalID, userID string) (order.Order, error) {
	if err := s.fail(); err != nil {
		return order.Order{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[[2]string{externalID, userID}]
	if !ok {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	return o, nil
}

func (s *memStore) OrderByID(ctx context.Context, id int64, userID string) (order.Order, error) {
	return order.Order{}, errors.New("not used by REST")
}

func (s *memStore) ListOrders(ctx context.Context, q order.ListQuery) ([]order.Order, error) {
	return nil, errors.New("not used by REST")
}

// worker is the Dispatcher: it applies the event as the worker would
// (order.Apply) and ACKs, or answers with err, or a failed outcome.
type worker struct {
	store   *memStore
	mu      sync.Mutex
	err     error
	outcome *order.Outcome
}

func (w *worker) Dispatch(ctx context.Context, ev order.Event) (order.Ack, error) {
	w.mu.Lock()
	err, outcome := w.err, w.outcome
	w.mu.Unlock()
	if err != nil {
		return order.Ack{}, err
	}
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	k := [2]string{ev.ExternalID, ev.UserID}
	o, out := order.Apply(w.store.orders[k], ev, time.Now().UTC())
	if outcome != nil {
		out = *outcome
		o.Status, o.FailureReason = order.StatusFailed, outcome.Reason
	}
	w.store.orders[k] = o
	return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: out, Order: o}, nil
}

const secret = "rest-test-secret-0123456789abcdef0123456789"

// api is the REST mirror as server.go mounts it: each route behind the
// authentication and rate-limit middlewares, over a Service on memStore.
type api struct {
	t      *testing.T
	h      http.Handler
	store  *memStore
	worker *worker
	v      *openapitest.Validator
	token  string
}

func newAPI(t *testing.T, v *openapitest.Validator, burst int) *api {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st := &memStore{orders: map[[2]string]order.Order{}}
	w := &worker{store: st}
	svc := order.NewService(st, w, log)
	svc.RequirePrincipal = true
	svc.AckTimeout = 50 * time.Millisecond
	verifier, err := auth.New(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	limiter := ratelimit.New(1, burst)
	mux := http.NewServeMux()
	for _, rt := range rest.Routes(svc, log) {
		mux.Handle(rt.Pattern, verifier.Middleware(limiter.Middleware(rt.Handler, rest.WriteError), rest.WriteError, log))
	}
	return &api{t: t, h: mux, store: st, worker: w, v: v, token: mint(t, "", "orders:admin")}
}

func mint(t *testing.T, sub, scope string) string {
	t.Helper()
	if sub == "" {
		sub = "00000000-0000-4000-8000-000000000001"
	}
	tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: sub, Scope: scope, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// req is one request of a test; zero fields take defaults (the admin
// token, application/json when there is a body).
type req struct {
	method, path, body string
	token              *string
	contentType        *string
}

// do sends r and checks the answer against the document (and r itself
// when valid); it returns the status, headers and body.
func (a *api) do(r req, valid bool) (int, http.Header, []byte) {
	a.t.Helper()
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	tok := a.token
	if r.token != nil {
		tok = *r.token
	}
	if tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	switch {
	case r.contentType != nil:
		hr.Header.Set("Content-Type", *r.contentType)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, hr)
	body, _ := io.ReadAll(rec.Body)
	if err := a.v.Check(openapitest.Exchange{Request: hr, RequestBody: []byte(r.body), Status: rec.Code, Header: rec.Header(), Body: body}, valid); err != nil {
		a.t.Error(err)
	}
	return rec.Code, rec.Header(), body
}

func ptr[T any](v T) *T { return &v }

const (
	alice = "6d1e5e8a-0c7e-4a55-9a44-7c2b57f4e2a1"
	items = `{"items": [{"name": "Product A", "quantity": 2, "price": 29.99}]}`
)

// TestOpenAPIDocumentsEveryRoute: the document's operations are exactly
// the routes Routes returns (besides its fallback).
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	v := openapitest.New(t, rest.OpenAPI)
	var got []string
	for _, rt := range rest.Routes(nil, nil) {
		if method, path, ok := strings.Cut(rt.Pattern, " "); ok {
			got = append(got, strings.ToLower(method)+" "+path)
		}
	}
	var want []string
	for _, op := range v.Operations() {
		want = append(want, strings.ToLower(op))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("routes %q; documented %q", got, want)
	}
	if v.Doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q; want 3.1.0", v.Doc.OpenAPI)
	}
}

// TestOpenAPIConformance sends requests for every documented status of
// every operation through the real handlers and middlewares, and checks
// each answer (status, headers, body) against the document. Only 500 is
// caused through the store; the other statuses are the real logic's.
func TestOpenAPIConformance(t *testing.T) {
	v := openapitest.New(t, rest.OpenAPI)
	a := newAPI(t, v, 1000)
	path := "/orders/by-external/shopify_12345?user_id=" + alice
	create := `{"external_id": "shopify_12345", "user_id": "` + alice + `", "payload": ` + items + `}`
	expectError := func(name string, status int, body []byte, gotStatus int, code, field string) {
		t.Helper()
		gotCode, gotField, err := openapitest.ErrorOf(body)
		if err != nil || gotStatus != status || gotCode != code || gotField != field {
			t.Errorf("%s: got %d %s; want %d %s field %q", name, gotStatus, body, status, code, field)
		}
	}

	// 201 with Location, then 200 for the identical repeat.
	status, h, body := a.do(req{method: "POST", path: "/orders", body: create}, true)
	if status != 201 || h.Get("Location") != "/orders/by-external/shopify_12345?user_id="+alice {
		t.Fatalf("create: got %d Location %q %s; want 201 and the order's path", status, h.Get("Location"), body)
	}
	if status, h, _ := a.do(req{method: "POST", path: "/orders", body: create}, true); status != 200 || h.Get("Location") != "" {
		t.Errorf("repeat: got %d Location %q; want 200 without Location", status, h.Get("Location"))
	}
	// The Location is the order's URL, even for an id that needs escaping.
	odd := `{"external_id": "a/b ?#%é", "user_id": "` + alice + `", "payload": ` + items + `}`
	if status, h, body := a.do(req{method: "POST", path: "/orders", body: odd}, true); status != 201 {
		t.Errorf("odd id: got %d %s; want 201", status, body)
	} else if status, _, body := a.do(req{method: "GET", path: h.Get("Location")}, true); status != 200 || !bytes.Contains(body, []byte(`"a/b ?#%é"`)) {
		t.Errorf("GET Location %q: got %d %s; want the order", h.Get("Location"), status, body)
	}

	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
		field  string
	}{
		{"MissingUserID", req{method: "POST", path: "/orders", body: `{"external_id": "x", "payload": ` + items + `}`}, 400, "BAD_USER_INPUT", "user_id"},
		{"BadExternalID", req{method: "POST", path: "/orders", body: `{"external_id": "", "user_id": "` + alice + `", "payload": ` + items + `}`}, 400, "BAD_USER_INPUT", "external_id"},
		{"NoItems", req{method: "POST", path: "/orders", body: `{"external_id": "x", "user_id": "` + alice + `", "payload": {"items": []}}`}, 400, "BAD_USER_INPUT", "payload.items"},
		{"BadQuantity", req{method: "POST", path: "/orders", body: `{"external_id": "x", "user_id": "` + alice + `", "payload": {"items": [{"name": "A", "quantity": 0, "price": 1}]}}`}, 400, "BAD_USER_INPUT", "payload.items[0].quantity"},
		{"MissingPrice", req{method: "POST", path: "/orders", body: `{"external_id": "x", "user_id": "` + alice + `", "payload": {"items": [{"name": "A", "quantity": 1}]}}`}, 400, "BAD_USER_INPUT", "payload.items[0].price"},
		{"NullPrice", req{method: "POST", path: "/orders", body: `{"external_id": "x", "user_id": "` + alice + `", "payload": {"items": [{"name": "A", "quantity": 1, "price": null}]}}`}, 400, "BAD_USER_INPUT", "payload.items[0].price"},
		{"FractionalQuantity", req{method: "POST", path: "/orders", body: `{"external_id": "x", "user_id": "` + alice + `", "payload": {"items": [{"name": "A", "quantity": 1.5, "price": 1}]}}`}, 400, "BAD_USER_INPUT", "payload.items.quantity"},
		{"UnknownField", req{method: "POST", path: "/orders", body: `{"external_id": "x", "extra": 1}`}, 400, "BAD_USER_INPUT", ""},
		{"NotJSON", req{method: "POST", path: "/orders", body: `{`}, 400, "BAD_USER_INPUT", ""},
		{"Unauthenticated", req{method: "POST", path: "/orders", body: create, token: ptr("")}, 401, "UNAUTHENTICATED", ""},
		{"BadToken", req{method: "GET", path: path, token: ptr("nope")}, 401, "UNAUTHENTICATED", ""},
		{"Forbidden", req{method: "POST", path: "/orders", body: create, token: ptr(mint(t, "", ""))}, 403, "FORBIDDEN", ""},
		{"Conflict", req{method: "POST", path: "/orders", body: strings.Replace(create, "29.99", "1", 1)}, 409, "CONFLICT", ""},
		{"TooLarge", req{method: "POST", path: "/orders", body: `{"external_id": "` + strings.Repeat("x", rest.MaxBodyBytes) + `"}`}, 413, "PAYLOAD_TOO_LARGE", ""},
		{"MediaType", req{method: "POST", path: "/orders", body: create, contentType: ptr("text/plain")}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"GetBadUser", req{method: "GET", path: "/orders/by-external/shopify_12345?user_id=nope"}, 400, "BAD_USER_INPUT", "user_id"},
		{"GetNoUser", req{method: "GET", path: "/orders/by-external/shopify_12345"}, 400, "BAD_USER_INPUT", "user_id"},
		{"GetUnauthenticated", req{method: "GET", path: path, token: ptr("")}, 401, "UNAUTHENTICATED", ""},
		{"GetMissing", req{method: "GET", path: "/orders/by-external/nope?user_id=" + alice}, 404, "NOT_FOUND", ""},
		{"GetOtherUsers", req{method: "GET", path: path, token: ptr(mint(t, "", ""))}, 404, "NOT_FOUND", ""},
		{"PutMissing", req{method: "PUT", path: "/orders/by-external/nope?user_id=" + alice, body: `{"payload": ` + items + `}`}, 404, "NOT_FOUND", ""},
		{"PutStale", req{method: "PUT", path: path, body: `{"payload": ` + items + `, "expected_event_id": 7}`}, 409, "CONFLICT", "expected_event_id"},
		{"PutNegativeExpected", req{method: "PUT", path: path, body: `{"payload": ` + items + `, "expected_event_id": -1}`}, 400, "BAD_USER_INPUT", "expected_event_id"},
		{"PutBadPrice", req{method: "PUT", path: path, body: `{"payload": {"items": [{"name": "A", "quantity": 1, "price": 1.234}]}}`}, 400, "BAD_USER_INPUT", ""},
		{"PutUnauthenticated", req{method: "PUT", path: path, body: `{"payload": ` + items + `}`, token: ptr("")}, 401, "UNAUTHENTICATED", ""},
		{"PutTooLarge", req{method: "PUT", path: path, body: `{"payload": "` + strings.Repeat("x", rest.MaxBodyBytes) + `"}`}, 413, "PAYLOAD_TOO_LARGE", ""},
		{"PutMediaType", req{method: "PUT", path: path, body: `{}`, contentType: ptr("application/xml")}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"DeleteMissing", req{method: "DELETE", path: "/orders/by-external/nope?user_id=" + alice}, 404, "NOT_FOUND", ""},
		{"DeleteBadReason", req{method: "DELETE", path: path, body: `{"reason": "a\u0000b"}`}, 400, "BAD_USER_INPUT", "reason"},
		{"DeleteUnauthenticated", req{method: "DELETE", path: path, token: ptr("")}, 401, "UNAUTHENTICATED", ""},
		{"DeleteTooLarge", req{method: "DELETE", path: path, body: `{"reason": "` + strings.Repeat("x", rest.MaxBodyBytes) + `"}`}, 413, "PAYLOAD_TOO_LARGE", ""},
		{"DeleteMediaType", req{method: "DELETE", path: path, body: `{}`, contentType: ptr("text/plain")}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"DeleteStale", req{method: "DELETE", path: path, body: `{"expected_event_id": 9}`}, 409, "CONFLICT", "expected_event_id"},
		{"DeleteStaleFloat", req{method: "DELETE", path: path, body: `{"expected_event_id": 9.0}`}, 409, "CONFLICT", "expected_event_id"},
		{"DeleteFractionalExpected", req{method: "DELETE", path: path, body: `{"expected_event_id": 0.5}`}, 400, "BAD_USER_INPUT", "expected_event_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := a.do(tc.r, false)
			expectError(tc.name, tc.status, body, status, tc.code, tc.field)
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	if status, _, body := a.do(req{method: "GET", path: path}, true); status != 200 {
		t.Errorf("GET: got %d %s; want 200", status, body)
	}
	if status, _, body := a.do(req{method: "PUT", path: path, body: `{"payload": {"items": [{"name": "B", "quantity": 1, "price": "10.50"}]}, "expected_event_id": 0}`}, true); status != 200 || !bytes.Contains(body, []byte(`"total":10.50`)) {
		t.Errorf("PUT: got %d %s; want 200 total 10.50", status, body)
	}
	// JSON Schema's integers include 2.0 and 2e0; nulls are "not given".
	if status, _, body := a.do(req{method: "PUT", path: path, body: `{"payload": {"items": [{"name": "A", "quantity": 2.0, "price": 1}, {"name": "B", "quantity": 1e0, "price": 1}]}, "expected_event_id": null}`}, true); status != 200 || !bytes.Contains(body, []byte(`"quantity":2`)) {
		t.Errorf("PUT quantity 2.0: got %d %s; want 200", status, body)
	}
	if status, _, body := a.do(req{method: "PUT", path: path, body: `{"payload": {"items": [{"name": "A", "quantity": 1e400, "price": 1}]}}`}, false); status != 400 || !bytes.Contains(body, []byte(`"field":"payload.items[0].quantity"`)) {
		t.Errorf("PUT quantity 1e400: got %d %s; want 400 on payload.items[0].quantity", status, body)
	}
	status, _, body = a.do(req{method: "DELETE", path: path, body: `null`}, false)
	expectError("DELETE null", 400, body, status, "BAD_USER_INPUT", "")

	// The worker fails the event (422), does not answer in time (504), or
	// Kafka is down (503): each answer carries the order, on every write.
	for _, tc := range []struct {
		set    func(w *worker)
		status int
		code   string
	}{
		{func(w *worker) {
			w.outcome = &order.Outcome{Code: order.EPROCESSING, Reason: "the warehouse refused it"}
		}, 422, "PROCESSING_FAILED"},
		{func(w *worker) { w.err = context.DeadlineExceeded }, 504, "ACK_TIMEOUT"},
		{func(w *worker) { w.err = order.Unavailable("Kafka", errors.New("down")) }, 503, "UNAVAILABLE"},
	} {
		wpath := "/orders/by-external/w-" + tc.code + "?user_id=" + alice
		if status, _, body := a.do(req{method: "POST", path: "/orders", body: strings.Replace(create, "shopify_12345", "w-"+tc.code, 1)}, true); status != 201 {
			t.Fatalf("create w-%s: got %d %s", tc.code, status, body)
		}
		tc.set(a.worker)
		for _, r := range []req{{method: "POST", path: "/orders", body: strings.Replace(create, "shopify_12345", "t-"+tc.code, 1)},
			{method: "PUT", path: wpath, body: `{"payload": ` + items + `}`}, {method: "DELETE", path: wpath}} {
			status, _, body := a.do(r, true)
			expectError(r.method+" "+tc.code, tc.status, body, status, tc.code, "")
			if !bytes.Contains(body, []byte(`"order":{"id":`)) {
				t.Errorf("%s %s: got %s; want the order in the error", r.method, tc.code, body)
			}
		}
		a.worker.err, a.worker.outcome = nil, nil
	}
	// The store is down (503) or has a bug (500).
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{{order.Unavailable("PostgreSQL", errors.New("down")), 503, "UNAVAILABLE"}, {errors.New("a bug"), 500, "INTERNAL_SERVER_ERROR"}} {
		a.store.mu.Lock()
		a.store.err = tc.err
		a.store.mu.Unlock()
		for _, r := range []req{{method: "POST", path: "/orders", body: create}, {method: "GET", path: path},
			{method: "PUT", path: path, body: `{"payload": ` + items + `}`}, {method: "DELETE", path: path, body: `{"reason": "r"}`}} {
			status, _, body := a.do(r, true)
			expectError(r.method+" "+tc.code, tc.status, body, status, tc.code, "")
		}
		a.store.mu.Lock()
		a.store.err = nil
		a.store.mu.Unlock()
	}
	status, _, body = a.do(req{method: "DELETE", path: path, body: `{"reason": "out of stock"}`}, true)
	if status != 200 || !bytes.Contains(body, []byte(`"status":"cancelled"`)) {
		t.Errorf("DELETE: got %d %s; want 200 cancelled", status, body)
	}
	if status, _, body := a.do(req{method: "DELETE", path: path}, true); status != 200 {
		t.Errorf("DELETE again, no body: got %d %s; want 200", status, body)
	}
	status, _, body = a.do(req{method: "PUT", path: path, body: `{"payload": ` + items + `}`}, true)
	expectError("PUT cancelled", 409, body, status, "CONFLICT", "")

	// 429, with Retry-After, on every operation: a limiter of burst 1.
	limited := newAPI(t, v, 1)
	for _, r := range []req{{method: "POST", path: "/orders", body: create}, {method: "GET", path: path},
		{method: "PUT", path: path, body: `{"payload": ` + items + `}`}, {method: "DELETE", path: path}} {
		limited.do(r, true) // takes the one token; the next request is refused
		status, h, body := limited.do(r, true)
		expectError(r.method+" rate limited", 429, body, status, "RATE_LIMITED", "")
		if h.Get("Retry-After") == "" {
			t.Errorf("%s 429 without Retry-After", r.method)
		}
	}

	if unseen := v.Unseen(); len(unseen) > 0 {
		t.Errorf("documented statuses not checked: %v", unseen)
	}
}

// TestFallback: unknown routes and methods under /orders get the REST
// error body: 404, or 405 with Allow; OPTIONS gets 204 with Allow.
func TestFallback(t *testing.T) {
	v := openapitest.New(t, rest.OpenAPI)
	a := newAPI(t, v, 1000)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/orders", 405, "POST, OPTIONS"},
		{"DELETE", "/orders", 405, "POST, OPTIONS"},
		{"PATCH", "/orders/by-external/x?user_id=" + alice, 405, "GET, PUT, DELETE, HEAD, OPTIONS"},
		{"POST", "/orders/by-external/x", 405, "GET, PUT, DELETE, HEAD, OPTIONS"},
		{"OPTIONS", "/orders/by-external/x", 204, "GET, PUT, DELETE, HEAD, OPTIONS"},
		{"OPTIONS", "/orders", 204, "POST, OPTIONS"},
		{"GET", "/orders/", 404, ""},
		{"GET", "/orders/42", 404, ""},
		{"GET", "/orders/by-external/", 404, ""},
		{"GET", "/orders/by-external/x/y", 404, ""},
		{"PUT", "/orders/nope/nope", 404, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			hr := httptest.NewRequest(tc.method, tc.path, nil)
			hr.Header.Set("Authorization", "Bearer "+a.token)
			rec := httptest.NewRecorder()
			a.h.ServeHTTP(rec, hr)
			if rec.Code != tc.status || rec.Header().Get("Allow") != tc.allow {
				t.Fatalf("got %d Allow %q %s; want %d Allow %q", rec.Code, rec.Header().Get("Allow"), rec.Body, tc.status, tc.allow)
			}
			if tc.status == 204 {
				return
			}
			if err := v.CheckSchema("ErrorBody", rec.Body.Bytes()); err != nil {
				t.Error(err)
			}
			want := map[int]string{404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}[tc.status]
			if code, _, _ := openapitest.ErrorOf(rec.Body.Bytes()); code != want || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("got code %q, %s; want %s in JSON", code, rec.Header().Get("Content-Type"), want)
			}
		})
	}
}

// TestOpenAPIServed: GET /openapi.json serves the committed document.
func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	rest.OpenAPIHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), rest.OpenAPI) || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("got %d %s %.80s; want 200 application/json and the document", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}
