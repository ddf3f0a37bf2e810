package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

func TestAllow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, 3) // 2 per second, bursts of 3
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("4th request: got ok=%v wait=%v; want refused with a wait up to 500ms", ok, wait)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Error("bob is limited by alice's requests")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Error("after the wait: still refused")
	}
	now = now.Add(time.Hour) // idle buckets are dropped
	l.Allow("carol")
	if len(l.buckets) != 1 {
		t.Errorf("got %d buckets after an hour; want only carol's", len(l.buckets))
	}
}

func TestMiddleware(t *testing.T) {
	l := New(1, 1)
	var gotStatus int
	var gotCode string
	var gotDetails map[string]any
	fail := func(w http.ResponseWriter, status int, code, message string, details map[string]any) {
		gotStatus, gotCode, gotDetails = status, code, details
		w.WriteHeader(status)
		w.Write([]byte(`{"code":"` + code + `"}`))
	}
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }), fail)
	do := func(withPrincipal bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		if withPrincipal {
			r = r.WithContext(order.WithPrincipal(r.Context(), order.Principal{UserID: "u1"}))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if got := do(true).Code; got != 204 {
		t.Fatalf("first request: got %d; want 204", got)
	}
	w := do(true)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: got %d Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if body := w.Body.String(); !strings.Contains(body, `"RATE_LIMITED"`) {
		t.Errorf("body %s lacks the RATE_LIMITED code", body)
	}
	// The endpoint's writer gets the code and the wait, in seconds.
	if gotStatus != http.StatusTooManyRequests || gotCode != CodeRateLimited || gotDetails["retryAfterSeconds"] != 1 {
		t.Errorf("error writer got %d %s %v; want 429 RATE_LIMITED retryAfterSeconds 1", gotStatus, gotCode, gotDetails)
	}
	for range 3 {
		if got := do(false).Code; got != 204 {
			t.Fatalf("without a principal: got %d; want not limited", got)
		}
	}
}
