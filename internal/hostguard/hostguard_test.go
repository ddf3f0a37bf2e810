package hostguard

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1": true, "127.0.0.1:8080": true, "127.1.2.3:1": true,
		"[::1]:8080": true, "[::1]": true, "::1": true,
		"": false, "evil.example": false, "evil.example:8080": false, "localhost.evil.example": false,
		"10.0.0.1:8080": false, "0.0.0.0:8080": false, "[::ffff:10.0.0.1]:80": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v; want %v", host, got, want)
		}
	}
}

// TestCheck: DNS-rebinding protection refuses a foreign Host, lets loopback
// names and ALLOWED_HOSTS through.
func TestCheck(t *testing.T) {
	h := Check(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }),
		[]string{"dev.internal", "10.0.0.5:8080"}, slog.New(slog.DiscardHandler))
	for host, want := range map[string]int{
		"localhost:8080": 204, "127.0.0.1:8080": 204, "[::1]:8080": 204,
		"dev.internal": 204, "DEV.internal:9999": 204, "10.0.0.5": 204,
		"evil.example": 403, "evil.example:8080": 403, "10.0.0.6:8080": 403,
	} {
		req := httptest.NewRequest("GET", "/graphql", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: got %d; want %d", host, rec.Code, want)
		}
	}
}

func TestLoopbackOr(t *testing.T) {
	h := LoopbackOr(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("local")) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("other")) }))
	for host, want := range map[string]string{"127.0.0.1:8080": "local", "localhost": "local", "192.168.1.2:8080": "other", "evil.example": "other"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Body.String() != want {
			t.Errorf("Host %q: got %q; want %q", host, rec.Body, want)
		}
	}
}
