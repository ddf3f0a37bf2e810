package rest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestJSONErrorMessage: decoding errors are described without echoing the body.
func TestJSONErrorMessage(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"BadPrice", `{"payload": {"items": [{"name": "A", "quantity": 1, "price": "1.234"}]}}`, "price must have at most 2 decimal places"},
		{"PriceNotANumber", `{"payload": {"items": [{"name": "A", "quantity": 1, "price": "secret-abc"}]}}`, "price must be a decimal number such as 29.99"},
		{"QuantityFraction", `{"payload": {"items": [{"name": "A", "quantity": 1.5, "price": 1}]}}`, `field "payload.items.quantity" must be int64`},
		{"Syntax", `{"external_id": secret-xyz}`, "syntax error at byte 17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req createRequest
			err := json.NewDecoder(strings.NewReader(tc.body)).Decode(&req)
			if err == nil {
				t.Fatal("decoded; want an error")
			}
			got := jsonErrorMessage(err)
			if got != tc.want || strings.Contains(got, "secret") {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

// TestWriteError: the REST error body, with the details of a middleware.
func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusTooManyRequests, "RATE_LIMITED", "too many requests: retry after 3 s", map[string]any{"retryAfterSeconds": 3, "code": "ignored"})
	want := `{"error":{"code":"RATE_LIMITED","message":"too many requests: retry after 3 s","retryAfterSeconds":3}}` + "\n"
	if rec.Code != 429 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("got %d %q %q; want 429 %q application/json", rec.Code, rec.Body, rec.Header().Get("Content-Type"), want)
	}
}
