package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// capture returns a logger like config.NewLogger's, writing JSON lines to buf.
func capture(buf *bytes.Buffer) *slog.Logger {
	return slog.New(NewLogHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).With("service", "test")
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := capture(&buf)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "with request id")
	log.InfoContext(trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})), "with span")
	log.With("order_id", 7).Info("without context")

	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("got %d lines; want 3", len(got))
	}
	if got[0]["request_id"] != "req-1" || got[0]["trace_id"] != nil {
		t.Errorf("line 1 = %v; want request_id req-1 and no trace_id", got[0])
	}
	if got[1]["request_id"] != "req-1" || got[1]["trace_id"] != tid.String() || got[1]["span_id"] != sid.String() {
		t.Errorf("line 2 = %v; want request_id, trace_id %s, span_id %s", got[1], tid, sid)
	}
	if got[2]["request_id"] != nil || got[2]["order_id"] != float64(7) || got[2]["service"] != "test" {
		t.Errorf("line 3 = %v; want order_id and service, no request_id", got[2])
	}
}

// TestRequestIDInEveryLine sends requests through HTTPMiddleware to a
// handler that logs twice, and checks that each line of a request carries
// its request id, that the id is echoed in the response, and that a sane
// client id is kept while an unsafe one is replaced.
func TestRequestIDInEveryLine(t *testing.T) {
	for _, tc := range []struct{ name, sent string }{
		{"Generated", ""},
		{"ClientID", "3f2b9c1e-5d4a-4c8e-9b1a-7e6f5d4c3b2a"},
		{"UnsafeClientIDReplaced", "evil\nid"},
		{"TooLongReplaced", strings.Repeat("a", 129)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := capture(&buf)
			mux := http.NewServeMux()
			mux.HandleFunc("POST /graphql", func(w http.ResponseWriter, r *http.Request) {
				log.InfoContext(r.Context(), "first", "order_id", 1)
				log.WarnContext(r.Context(), "second")
				w.WriteHeader(http.StatusAccepted)
			})
			h := HTTPMiddleware(mux, log)
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer secret-token")
			if tc.sent != "" {
				req.Header.Set(HeaderRequestID, tc.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			id := rec.Header().Get(HeaderRequestID)
			if id == "" {
				t.Fatal("no X-Request-ID in the response")
			}
			if sane := tc.name == "ClientID"; (id == tc.sent) != sane {
				t.Errorf("response X-Request-ID = %q for %q sent; want the client's id only when sane", id, tc.sent)
			}
			got := lines(t, &buf)
			if len(got) != 3 { // first, second and the debug access line
				t.Fatalf("got %d lines; want 3:\n%s", len(got), buf.String())
			}
			for _, l := range got {
				if l["request_id"] != id {
					t.Errorf("line %v; want request_id %q", l, id)
				}
			}
			if last := got[2]; last["msg"] != "http request" || last["route"] != "POST /graphql" || last["status"] != float64(202) {
				t.Errorf("access line = %v; want route POST /graphql, status 202", last)
			}
			if strings.Contains(buf.String(), "secret-token") {
				t.Errorf("the bearer token was logged:\n%s", buf.String())
			}
		})
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	a, b := newRequestID(), newRequestID()
	if a == b || !saneRequestID(a) {
		t.Errorf("ids %q, %q; want two different sane ids", a, b)
	}
}

// TestOffByDefault: without an OTLP endpoint Setup leaves tracing off and
// Start returns the context as it was.
func TestOffByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	stop, err := Setup(context.Background(), "test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	if Enabled() {
		t.Fatal("tracing on without an endpoint")
	}
	ctx := context.Background()
	if got, span := Start(ctx, "x"); got != ctx || span.SpanContext().IsValid() {
		t.Errorf("Start with tracing off changed the context or made a real span")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if Configured() {
		t.Error("Configured with OTEL_TRACES_EXPORTER=none; want off")
	}
}

func BenchmarkHTTPMiddlewareTracingOff(b *testing.B) {
	log := slog.New(NewLogHandler(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	h := HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), log)
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

func TestSetupRefusesUnknownProtocol(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := Setup(context.Background(), "test", slog.Default()); err == nil || Enabled() {
		t.Errorf("Setup with protocol http/json: err %v, enabled %v; want an error and tracing off", err, Enabled())
	}
}
