package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// MaxBodyBytes bounds a GraphQL request body.
const MaxBodyBytes = 1 << 20

// Options bound what one request may ask for.
type Options struct {
	MaxDepth      int  // deepest selection nesting (default 10)
	MaxFields     int  // fields selected in all, aliases included (default 200)
	MaxComplexity int  // gqlgen complexity, 1 per field (default 500)
	TokenLimit    int  // parser tokens (default 15000)
	Introspection bool // __schema and __type queries
	// Suggestions adds "did you mean …" hints to validation errors; they
	// reveal the schema, so production turns them off with introspection.
	Suggestions bool
	// Websocket configures subscriptions (websocket.go).
	Websocket WebsocketOptions
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxDepth, 10)
	def(&o.MaxFields, 200)
	def(&o.MaxComplexity, 500)
	def(&o.TokenLimit, 15000)
	o.Websocket = o.Websocket.withDefaults()
	return o
}

// NewHandler returns the GraphQL endpoint: POST with a JSON body, GET for
// queries only (gqlgen refuses mutations over GET), and websockets for
// subscriptions (opts.Websocket). m may be nil.
func NewHandler(svc *order.Service, log *slog.Logger, m *metrics.Metrics, opts Options) http.Handler {
	opts = opts.withDefaults()
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{Service: svc}}))
	srv.AddTransport(websocketTransport(opts.Websocket, log)) // first: upgrade requests are GETs too
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(opts.TokenLimit)
	srv.SetValidationRulesFn(validationRules)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.SetDisableSuggestion(!opts.Suggestions)
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(opts.MaxComplexity))
	srv.Use(Limits{MaxDepth: opts.MaxDepth, MaxFields: opts.MaxFields})
	srv.Use(wsGate{opts: opts.Websocket})
	if m != nil {
		srv.Use(opMetrics{m: m})
	}
	if telemetry.Enabled() {
		srv.Use(opTracing{})
	}
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql panic", "panic", p, "stack", string(debug.Stack()))
		return &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": order.EINTERNAL}}
	})
	return guard(srv)
}

// guard lets through what the transports serve: GET, POST with a JSON body
// of at most MaxBodyBytes, and OPTIONS. Anything else gets a GraphQL-shaped
// error with a code, instead of gqlgen's bare "transport not supported".
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
				return
			}
			if r.ContentLength > MaxBodyBytes {
				writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("the request body must be at most %d bytes", MaxBodyBytes))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST with a JSON body, or GET for queries")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
