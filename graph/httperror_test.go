package graph

import (
	"net/http/httptest"
	"testing"
)

// TestWriteHTTPError: GraphQL's error shape, with the extensions of a
// middleware; the code cannot be overridden by them.
func TestWriteHTTPError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteHTTPError(rec, 429, "RATE_LIMITED", "too many requests", map[string]any{"retryAfterSeconds": 2, "code": "ignored"})
	want := `{"errors":[{"extensions":{"code":"RATE_LIMITED","retryAfterSeconds":2},"message":"too many requests"}]}` + "\n"
	if rec.Code != 429 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("got %d %q; want 429 %q", rec.Code, rec.Body, want)
	}
}
