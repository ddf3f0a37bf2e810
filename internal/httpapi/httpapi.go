// Package httpapi is the API's HTTP surface: the GraphQL and REST adapters
// mounted on one mux with their middleware (authentication and rate
// limiting, each writing errors in its adapter's format), health and
// metrics endpoints, GraphiQL, and the chain in front (request logging,
// metrics, CORS, the development Host check, draining). server.go builds
// Routes from the configuration.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/cors"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/graphiql"
	"github.com/orderstream/orderstream/internal/hostguard"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/ratelimit"
	"github.com/orderstream/orderstream/internal/rest"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// Routes is what the API serves and how.
type Routes struct {
	Orders  *order.Service
	Auth    *auth.Verifier     // nil: authentication disabled
	Limiter *ratelimit.Limiter // nil: no rate limit
	Metrics *metrics.Metrics
	GraphQL graph.Options
	// GraphiQL serves the IDE on /; DemoToken, when set, is prefilled in
	// its headers for loopback visitors only.
	GraphiQL  bool
	DemoToken string
	// Ready reports whether the dependencies answer (/readyz).
	Ready func(context.Context) error
	// Draining is set from the start of the shutdown: /readyz answers 503
	// and answers ask clients to close their connection.
	Draining *atomic.Bool
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// CheckHost refuses requests whose Host is not a loopback name or one
	// of AllowedHosts (development: DNS-rebinding protection).
	CheckHost    bool
	AllowedHosts []string
	Pprof        bool // /debug/pprof/
	Log          *slog.Logger
}

// Handler returns the whole chain: request logging and tracing, metrics,
// CORS, the Host check, draining, then the mux.
func Handler(r Routes) http.Handler {
	h := closeWhileDraining(r.Draining, NewMux(r))
	if r.CheckHost {
		h = hostguard.Check(h, r.AllowedHosts, r.Log)
	}
	return telemetry.HTTPMiddleware(r.Metrics.Middleware(withCORS(r.CORSOrigins, h)), r.Log)
}

// NewMux routes the API. GraphQL and REST require a bearer token when Auth
// is set (the middleware sits inside the mux, per route, so that the
// metrics still see the route pattern), and each writes its errors in its
// own format; /healthz, /readyz and /metrics never need one.
func NewMux(r Routes) *http.ServeMux {
	protect := func(h http.Handler, fail func(http.ResponseWriter, int, string, string, map[string]any)) http.Handler {
		if r.Auth == nil {
			return h
		}
		if r.Limiter != nil {
			h = r.Limiter.Middleware(h, fail) // inside: it keys on the authenticated user
		}
		return r.Auth.Middleware(h, fail, r.Log)
	}
	mux := http.NewServeMux()
	gql := graph.NewHandler(r.Orders, r.Log, r.Metrics, r.GraphQL)
	mux.Handle("/graphql", auth.ExceptWebsocket(gql, protect(gql, graph.WriteHTTPError)))
	mux.Handle("GET /graphql/schema.graphql", graph.SDLHandler())
	mux.Handle("GET /openapi.json", rest.OpenAPIHandler()) // the REST contract: no token, like the SDL
	for _, rt := range rest.Routes(r.Orders, r.Log) {
		mux.Handle(rt.Pattern, protect(rt.Handler, rest.WriteError))
	}
	mux.Handle("GET /metrics", r.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if r.Draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if r.GraphiQL {
		h := graphiQL(r.DemoToken)
		mux.Handle("GET /{$}", h)
		mux.Handle("GET "+graphiql.AssetsPrefix, h)
	}
	if r.Pprof {
		telemetry.ServePprof(mux, r.Log)
	}
	return mux
}

// graphiQL serves GraphiQL on / and its embedded assets, pointed at
// /graphql and the published SDL. The demo token is prefilled as the
// Authorization header only for visitors who reach the API by a loopback
// name or address: anyone else gets the page without it.
func graphiQL(token string) http.Handler {
	cfg := graphiql.Config{Endpoint: "/graphql", SDLPath: "/graphql/schema.graphql"}
	plain := mustHandler(graphiql.Handler(cfg))
	if token == "" {
		return plain
	}
	cfg.Headers = map[string]string{"Authorization": "Bearer " + token}
	return hostguard.LoopbackOr(mustHandler(graphiql.Handler(cfg)), plain)
}

// mustHandler panics on the error of reading embedded assets: a broken build.
func mustHandler(h http.Handler, err error) http.Handler {
	if err != nil {
		panic("graphiql: " + err.Error())
	}
	return h
}

// withCORS lets the browser origins in allowed call the API (rs/cors):
// preflights are answered, and the Authorization and Content-Type headers
// are allowed. Credentials (cookies) are not: clients send tokens in
// headers. With no origin configured, browsers only reach the API from its
// own origin.
func withCORS(allowed []string, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: allowed,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Apollographql-Client-Name", "Apollographql-Client-Version"},
		MaxAge:         600,
	}).Handler(next)
}

// closeWhileDraining answers with Connection: close while the API drains,
// so that keep-alive clients reconnect, through their load balancer, to an
// instance that stays. Idle connections are not cut: a client could be
// sending on one.
func closeWhileDraining(draining *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
