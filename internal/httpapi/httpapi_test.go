package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orderstream/orderstream/internal/metrics"
)

func testRoutes(draining *atomic.Bool) Routes {
	return Routes{Metrics: metrics.New("test"), Draining: draining, Log: slog.New(slog.DiscardHandler),
		Ready: func(context.Context) error { return nil }, GraphiQL: true, DemoToken: "demo.token.value", CheckHost: true}
}

func get(t *testing.T, h http.Handler, host, path string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

// TestDraining: once the shutdown starts, /readyz answers 503 and every
// answer asks the client to close its connection, while the API serves on.
func TestDraining(t *testing.T) {
	var draining atomic.Bool
	h := Handler(testRoutes(&draining))
	if resp, _ := get(t, h, "127.0.0.1:8080", "/readyz"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before: /readyz %d close=%v; want 200, keep-alive", resp.StatusCode, resp.Close)
	}
	draining.Store(true)
	if resp, _ := get(t, h, "127.0.0.1:8080", "/readyz"); resp.StatusCode != 503 || resp.Header.Get("Connection") != "close" {
		t.Errorf("draining: /readyz %d Connection %q; want 503, close", resp.StatusCode, resp.Header.Get("Connection"))
	}
	if resp, _ := get(t, h, "127.0.0.1:8080", "/healthz"); resp.StatusCode != 200 || resp.Header.Get("Connection") != "close" {
		t.Errorf("draining: /healthz %d Connection %q; want 200 (still serving), close", resp.StatusCode, resp.Header.Get("Connection"))
	}
}

// TestDemoTokenLoopbackOnly: GraphiQL carries the demo token only for a
// loopback Host; another Host is refused by the development Host check,
// and with the check off (a proxy in front) it gets the page without it.
func TestDemoTokenLoopbackOnly(t *testing.T) {
	var draining atomic.Bool
	r := testRoutes(&draining)
	r.AllowedHosts = []string{"dev.internal"}
	h := Handler(r)
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		if resp, page := get(t, h, host, "/"); resp.StatusCode != 200 || !strings.Contains(page, "Bearer demo.token.value") {
			t.Errorf("Host %s: %d, token in page %v; want 200 with the token", host, resp.StatusCode, strings.Contains(page, "demo.token"))
		}
	}
	if resp, page := get(t, h, "dev.internal:8080", "/"); resp.StatusCode != 200 || strings.Contains(page, "demo.token") {
		t.Errorf("allowed non-loopback Host: %d, token in page %v; want 200 without it", resp.StatusCode, strings.Contains(page, "demo.token"))
	}
	if resp, page := get(t, h, "evil.example", "/"); resp.StatusCode != 403 || strings.Contains(page, "demo.token") {
		t.Errorf("foreign Host: %d; want 403 without the token", resp.StatusCode)
	}
	r.CheckHost = false
	if resp, page := get(t, Handler(r), "evil.example", "/"); resp.StatusCode != 200 || strings.Contains(page, "demo.token") {
		t.Errorf("no Host check: %d, token in page %v; want 200 without it", resp.StatusCode, strings.Contains(page, "demo.token"))
	}
}
