package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// HeaderRequestID is the header that carries the request id, in requests
// (a client's own id, when sane) and in every response.
const HeaderRequestID = "X-Request-ID"

// requestIDHeader is HeaderRequestID in canonical form, for map access
// without canonicalizing (and allocating) on every request.
const requestIDHeader = "X-Request-Id"

// requestIDs makes request ids: a random prefix per process and a counter,
// unique across instances and restarts without a random read per request.
var requestIDs = struct {
	prefix string
	seq    atomic.Uint64
}{prefix: randomPrefix()}

func randomPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + "-"
}

func newRequestID() string {
	var buf [40]byte
	return string(strconv.AppendUint(append(buf[:0], requestIDs.prefix...), requestIDs.seq.Add(1), 10))
}

// saneRequestID accepts a client's request id of 1 to 128 characters from
// [A-Za-z0-9._:-]: enough for UUIDs and the ids of common proxies, and
// nothing that could forge a log line or a header.
func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// untraced are the routes that never get a span: probes and scrapes would
// bury the orders' traces.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// HTTPMiddleware gives every request an id (the client's X-Request-ID when
// sane, else a new one), puts it in the request context for the logs and
// echoes it in the X-Request-ID response header. With tracing on it also
// starts the server span (otelhttp: named "METHOD /route", child of the
// client's traceparent header), except for /healthz, /readyz and /metrics.
// At debug level it logs one line per request (method, route, status,
// duration), never headers or bodies.
func HTTPMiddleware(next http.Handler, log *slog.Logger) http.Handler {
	inner := next
	if log.Enabled(context.Background(), slog.LevelDebug) {
		inner = accessLog(next, log)
	}
	if Enabled() {
		inner = otelhttp.NewHandler(inner, "http",
			otelhttp.WithFilter(func(r *http.Request) bool { return !untraced[r.URL.Path] }))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if v := r.Header[requestIDHeader]; len(v) > 0 && saneRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID()
		}
		w.Header()[requestIDHeader] = []string{id}
		inner.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

func accessLog(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		log.DebugContext(r.Context(), "http request", "method", r.Method, "route", Route(r), "status", sw.Status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// StatusWriter records the status a handler writes (200 unless it writes
// another). Unwrap keeps http.ResponseController and websocket upgrades
// working through it.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
}

func (w *StatusWriter) WriteHeader(code int) {
	w.Status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Route is the mux pattern that served r, "unmatched" when none did: a
// label of bounded cardinality for logs and metrics.
func Route(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	return r.Pattern
}
