package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// MaxBodyBytes bounds a GraphQL request body.
const MaxBodyBytes = 1 << 20

// Options bound what one request may ask for (cost.go has the rules).
type Options struct {
	MaxDepth      int  // deepest nesting of data fields (default 10)
	MaxFields     int  // data fields selected in all, aliases and fragments expanded (default 200)
	MaxComplexity int  // data cost, list sizes included (cost.go; default 400,000)
	TokenLimit    int  // parser tokens (default 15000)
	Introspection bool // __schema and __type queries
	// MaxResponseBytes bounds each response (GRAPHQL_MAX_RESPONSE_BYTES;
	// default 4 MiB): RESPONSE_TOO_LARGE past it, counted while the
	// response is built (response.go).
	MaxResponseBytes int
	// MaxDocumentBytes bounds the query text (default 256 KiB); variables
	// may take the rest of the body.
	MaxDocumentBytes int
	// Introspection fields (__schema, __type) have their own bounds, sized
	// for the standard introspection queries of graphql-js, GraphQL Code
	// Generator, graphql-inspector and Rover (defaults 20 levels, 500
	// fields, cost 200,000).
	MaxIntrospectionDepth      int
	MaxIntrospectionFields     int
	MaxIntrospectionComplexity int
	// QueryCacheBytes and APQCacheBytes bound the parsed-query cache and
	// the persisted-query cache by the bytes they hold (defaults 32 MiB and
	// 8 MiB).
	QueryCacheBytes int
	APQCacheBytes   int
	// Suggestions adds "did you mean …" hints to validation errors; they
	// reveal the schema, so production turns them off with introspection.
	Suggestions bool
	// Websocket configures subscriptions (websocket.go).
	Websocket WebsocketOptions
}

// The defaults of Options (internal/config's GRAPHQL_* defaults are these).
const (
	DefaultMaxDepth                   = 10
	DefaultMaxFields                  = 200
	DefaultMaxComplexity              = 400_000
	DefaultTokenLimit                 = 15000
	DefaultMaxResponseBytes           = 4 << 20
	DefaultMaxDocumentBytes           = 256 << 10
	DefaultMaxIntrospectionDepth      = 20
	DefaultMaxIntrospectionFields     = 500
	DefaultMaxIntrospectionComplexity = 200_000
	DefaultQueryCacheBytes            = 32 << 20
	DefaultAPQCacheBytes              = 8 << 20
)

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxDepth, DefaultMaxDepth)
	def(&o.MaxFields, DefaultMaxFields)
	def(&o.MaxComplexity, DefaultMaxComplexity)
	def(&o.TokenLimit, DefaultTokenLimit)
	def(&o.MaxResponseBytes, DefaultMaxResponseBytes)
	def(&o.MaxDocumentBytes, DefaultMaxDocumentBytes)
	def(&o.MaxIntrospectionDepth, DefaultMaxIntrospectionDepth)
	def(&o.MaxIntrospectionFields, DefaultMaxIntrospectionFields)
	def(&o.MaxIntrospectionComplexity, DefaultMaxIntrospectionComplexity)
	def(&o.QueryCacheBytes, DefaultQueryCacheBytes)
	def(&o.APQCacheBytes, DefaultAPQCacheBytes)
	o.Websocket = o.Websocket.withDefaults()
	return o
}

// NewHandler returns the GraphQL endpoint: GraphQL over HTTP (POST with a
// JSON body, GET for queries; http.go) and websockets for subscriptions
// (graphql-transport-ws, opts.Websocket; wsproto.go). m may be nil.
func NewHandler(svc *order.Service, log *slog.Logger, m *metrics.Metrics, opts Options) http.Handler {
	opts = opts.withDefaults()
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{Service: svc}}))
	// Websockets first: upgrade requests are GETs too.
	srv.AddTransport(wsTransport{opts: opts.Websocket, log: log})
	srv.AddTransport(legacyWebsocketTransport(opts.Websocket, log))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(httpTransport{})
	queries := newByteLRU(opts.QueryCacheBytes, docSize)
	srv.SetQueryCache(queries)
	srv.SetParserTokenLimit(opts.TokenLimit)
	srv.SetValidationRulesFn(validationRules)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.SetDisableSuggestion(!opts.Suggestions)
	srv.Use(extension.AutomaticPersistedQuery{Cache: newByteLRU(opts.APQCacheBytes, stringSize)})
	srv.Use(&Limits{ // after APQ, which fills in the query
		MaxDepth: opts.MaxDepth, MaxFields: opts.MaxFields, MaxComplexity: opts.MaxComplexity,
		MaxIntrospectionDepth: opts.MaxIntrospectionDepth, MaxIntrospectionFields: opts.MaxIntrospectionFields,
		MaxIntrospectionComplexity: opts.MaxIntrospectionComplexity,
		MaxDocumentBytes:           opts.MaxDocumentBytes, TokenLimit: opts.TokenLimit, Introspection: opts.Introspection,
		cache: queries,
	})
	srv.Use(wsGate{opts: opts.Websocket})
	if m != nil {
		srv.Use(opMetrics{m: m})
	}
	if telemetry.Enabled() {
		srv.Use(opTracing{})
	}
	srv.Use(responseLimit{max: int64(opts.MaxResponseBytes)}) // inside metrics and tracing: they see its code
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql panic", "panic", p, "stack", string(debug.Stack()))
		return &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": order.EINTERNAL}}
	})
	return guard(srv)
}

// guard lets through what the transports serve: GET, POST with a UTF-8
// JSON body of at most MaxBodyBytes, and OPTIONS. Anything else gets a
// GraphQL-shaped error with a code, instead of gqlgen's bare "transport not
// supported". A body without Content-Length (chunked) is cut at
// MaxBodyBytes; the transport answers 413 for it too.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if cs, ok := params["charset"]; err != nil || mt != mediaJSON || ok && !strings.EqualFold(cs, "utf-8") {
				writeError(w, http.StatusUnsupportedMediaType, codeMediaType, "Content-Type must be application/json (UTF-8)")
				return
			}
			if r.ContentLength > MaxBodyBytes {
				writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the request body must be at most %d bytes", MaxBodyBytes))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "use POST with a JSON body, or GET for queries")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeError writes an error about the HTTP request itself (no GraphQL
// response could be made): always application/json, never
// application/graphql-response+json, as GraphQL over HTTP says.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", mediaJSON+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
