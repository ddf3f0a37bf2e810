// Command orderstream is the OrderStream API: GraphQL on /graphql and the
// REST mirror on /orders. Every write is stored in PostgreSQL, sent to the
// worker through Kafka, and answered once the worker ACKs it.
//
// Configuration comes from the environment; see config and the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/cors"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/graphiql"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/pubsub"
	"github.com/orderstream/orderstream/internal/ratelimit"
	"github.com/orderstream/orderstream/internal/rest"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// apiConfig is the API's configuration, read from the environment.
type apiConfig struct {
	Port        string // PORT
	DatabaseURL string // DATABASE_URL
	// MigrateURL is the tables' owner, used only to apply the migrations
	// (MIGRATE_DATABASE_URL; "" = DATABASE_URL). DatabaseURL should be a
	// login granted orderstream_api, which row-level security binds.
	MigrateURL     string
	Production     bool          // APP_ENV=production
	DBMaxConns     int           // DB_MAX_CONNS
	Brokers        []string      // KAFKA_BROKERS
	OrdersTopic    string        // KAFKA_ORDERS_TOPIC
	AcksTopic      string        // KAFKA_ACKS_TOPIC
	InstanceID     string        // INSTANCE_ID
	ReplyPartition int           // REPLY_PARTITION
	AckTimeout     time.Duration // ACK_TIMEOUT
	RecoveryDelay  time.Duration // RECOVERY_DELAY
	RecoveryEvery  time.Duration // RECOVERY_INTERVAL
	RecoveryMax    time.Duration // RECOVERY_MAX_BACKOFF
	// CrashAfterCommits makes the API SIGKILL itself right after its n-th
	// committed event, before sending it (FAULT_CRASH_AFTER_COMMITS; fault
	// suite only; 0 = never).
	CrashAfterCommits int
	StartupTimeout    time.Duration // STARTUP_TIMEOUT
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT
	LogLevel          string        // LOG_LEVEL
	// Pprof serves net/http/pprof on /debug/pprof/ (PPROF=true; off by
	// default: profiles reveal internals, keep them off public ports).
	Pprof bool
	// GraphQL bounds requests (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_FIELDS,
	// GRAPHQL_MAX_COMPLEXITY, GRAPHQL_TOKEN_LIMIT, GRAPHQL_INTROSPECTION).
	GraphQL graph.Options
	// CORSOrigins are the browser origins allowed to call the API
	// (CORS_ALLOWED_ORIGINS, comma-separated; none by default).
	CORSOrigins []string
	// RateLimit is each authenticated user's average requests per second
	// (RATE_LIMIT_RPS; 0 = no limit), RateBurst the burst (RATE_LIMIT_BURST).
	RateLimit float64
	RateBurst int
	// ReadTimeout bounds reading a whole request, so that slow clients
	// cannot hold connections (HTTP_READ_TIMEOUT).
	ReadTimeout time.Duration
	// Auth is how requests authenticate: bearer JWTs checked with a shared
	// secret (AUTH_JWT_SECRET, HS256) and/or a JWKS file (AUTH_JWKS_FILE,
	// RS256/ES256), with AUTH_ISSUER and AUTH_AUDIENCE when set.
	// AUTH_JWKS_URL (https; refreshed every AUTH_JWKS_REFRESH_INTERVAL and
	// on unknown kids at most every AUTH_JWKS_UNKNOWN_KID_INTERVAL) is set
	// in Auth.
	Auth         auth.Config
	AuthJWKSFile string
	// AuthDisabled runs the API without authentication (AUTH_DISABLED=true;
	// tests and benchmarks only). Ignored when a secret or JWKS is set.
	AuthDisabled bool
	// GraphiQL serves the GraphiQL IDE on / (GRAPHIQL; on by default, off
	// when APP_ENV=production).
	GraphiQL bool
	// GraphiQLToken is prefilled in GraphiQL's headers as the bearer token
	// (GRAPHIQL_DEMO_TOKEN: `make run` sets its demo token; refused in
	// production).
	GraphiQLToken string
}

// Defaults match `make infra`.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:55432/orderstream?sslmode=disable"
	defaultBrokers     = "127.0.0.1:9092"
)

func loadAPIConfig() (apiConfig, error) {
	var e config.Env
	production := e.String("APP_ENV", "development") == "production"
	c := apiConfig{
		Port:              e.String("PORT", "8080"),
		DatabaseURL:       e.String("DATABASE_URL", defaultDatabaseURL),
		MigrateURL:        e.String("MIGRATE_DATABASE_URL", ""),
		Production:        production,
		DBMaxConns:        e.Int("DB_MAX_CONNS", 32),
		Brokers:           e.List("KAFKA_BROKERS", []string{defaultBrokers}),
		OrdersTopic:       e.String("KAFKA_ORDERS_TOPIC", "orders"),
		AcksTopic:         e.String("KAFKA_ACKS_TOPIC", "order-acks"),
		InstanceID:        e.String("INSTANCE_ID", ""),
		ReplyPartition:    e.Int("REPLY_PARTITION", -1),
		AckTimeout:        e.Duration("ACK_TIMEOUT", 30*time.Second),
		RecoveryDelay:     e.Duration("RECOVERY_DELAY", 5*time.Second),
		RecoveryEvery:     e.Duration("RECOVERY_INTERVAL", time.Second),
		RecoveryMax:       e.Duration("RECOVERY_MAX_BACKOFF", 30*time.Second),
		CrashAfterCommits: e.Int("FAULT_CRASH_AFTER_COMMITS", 0),
		StartupTimeout:    e.Duration("STARTUP_TIMEOUT", 2*time.Minute),
		LogLevel:          e.String("LOG_LEVEL", "info"),
		Pprof:             e.String("PPROF", "false") == "true",
		GraphQL: graph.Options{
			MaxDepth:      e.Int("GRAPHQL_MAX_DEPTH", 10),
			MaxFields:     e.Int("GRAPHQL_MAX_FIELDS", 200),
			MaxComplexity: e.Int("GRAPHQL_MAX_COMPLEXITY", 400_000),
			TokenLimit:    e.Int("GRAPHQL_TOKEN_LIMIT", 15000),
			// Production (APP_ENV=production) hides the schema unless asked.
			Introspection: e.String("GRAPHQL_INTROSPECTION", strconv.FormatBool(!production)) == "true",
			Suggestions:   !production,
			Websocket: graph.WebsocketOptions{
				PingInterval:     e.Duration("WS_PING_INTERVAL", 25*time.Second),
				MaxSubscriptions: e.Int("WS_MAX_SUBSCRIPTIONS", 100),
			},
		},
		CORSOrigins: e.List("CORS_ALLOWED_ORIGINS", nil),
		RateLimit:   float64(e.Int("RATE_LIMIT_RPS", 20)),
		RateBurst:   e.Int("RATE_LIMIT_BURST", 40),
		ReadTimeout: e.Duration("HTTP_READ_TIMEOUT", 30*time.Second),
		Auth: auth.Config{
			Secret:              []byte(e.String("AUTH_JWT_SECRET", "")),
			Issuer:              e.String("AUTH_ISSUER", ""),
			Audience:            e.String("AUTH_AUDIENCE", ""),
			JWKSURL:             e.String("AUTH_JWKS_URL", ""),
			JWKSRefresh:         e.Duration("AUTH_JWKS_REFRESH_INTERVAL", auth.DefaultJWKSRefresh),
			JWKSUnknownKIDEvery: e.Duration("AUTH_JWKS_UNKNOWN_KID_INTERVAL", auth.DefaultJWKSUnknownKIDEvery),
		},
		AuthJWKSFile: e.String("AUTH_JWKS_FILE", ""),
		AuthDisabled: e.String("AUTH_DISABLED", "false") == "true",
		// Production hides GraphiQL unless asked, like introspection.
		GraphiQL:      e.String("GRAPHIQL", strconv.FormatBool(!production)) == "true",
		GraphiQLToken: e.String("GRAPHIQL_DEMO_TOKEN", ""),
	}
	if production && c.GraphiQLToken != "" {
		return c, errors.New("GRAPHIQL_DEMO_TOKEN is for development only: unset it when APP_ENV=production")
	}
	c.ShutdownTimeout = e.Duration("SHUTDOWN_TIMEOUT", c.AckTimeout+5*time.Second)
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = strings.ReplaceAll(host, ":", "-") + "-" + uuid.NewString()[:8]
	}
	return c, e.Err()
}

func main() {
	cfg, err := loadAPIConfig()
	log := config.NewLogger("api", cfg.LogLevel)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	authn, err := newVerifier(cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	if authn != nil {
		defer authn.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, authn, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

// newVerifier returns the bearer-token verifier the configuration asks for,
// or nil when authentication is explicitly disabled. With no key
// configured and AUTH_DISABLED not true, the API refuses to start.
func newVerifier(cfg apiConfig, log *slog.Logger) (*auth.Verifier, error) {
	if len(cfg.Auth.Secret) == 0 && cfg.AuthJWKSFile == "" && cfg.Auth.JWKSURL == "" {
		if !cfg.AuthDisabled {
			return nil, errors.New("no authentication configured: set AUTH_JWT_SECRET (HS256 shared secret) and/or " +
				"AUTH_JWKS_FILE or AUTH_JWKS_URL (RS256/ES256 public keys), or AUTH_DISABLED=true to run without authentication (tests only)")
		}
		log.Warn("AUTHENTICATION DISABLED (AUTH_DISABLED=true): anyone who can reach this API can read and change every user's orders; never run like this in production")
		return nil, nil
	}
	if cfg.AuthDisabled {
		log.Warn("AUTH_DISABLED=true is ignored: AUTH_JWT_SECRET, AUTH_JWKS_FILE or AUTH_JWKS_URL is set, so authentication is on")
	}
	cfg.Auth.Log = log
	v, err := auth.NewFromFiles(cfg.Auth, cfg.AuthJWKSFile)
	if err != nil {
		return nil, fmt.Errorf("authentication configuration (AUTH_JWT_SECRET, AUTH_JWKS_FILE, AUTH_JWKS_URL): %w", err)
	}
	log.Info("authentication on", "hs256_secret", len(cfg.Auth.Secret) > 0, "jwks_file", cfg.AuthJWKSFile, "jwks_url", cfg.Auth.JWKSURL,
		"issuer", cfg.Auth.Issuer, "audience", cfg.Auth.Audience)
	return v, nil
}

// run starts the API and serves until ctx ends, then drains in-flight
// requests (up to ShutdownTimeout) and closes everything. authn nil means
// authentication is disabled.
func run(ctx context.Context, cfg apiConfig, authn *auth.Verifier, log *slog.Logger) error {
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()

	// Tracing (OTEL_* variables): off unless an OTLP endpoint is set.
	stopTracing, err := telemetry.Setup(ctx, "orderstream-api", log)
	if err != nil {
		return err
	}
	defer telemetry.Flush(stopTracing, log)
	var dbOpts []postgres.Option
	if telemetry.Enabled() {
		dbOpts = append(dbOpts, postgres.WithTracing())
	}

	m := metrics.New("api")
	pool, err := postgres.Start(ctx, startCtx, cfg.DatabaseURL, cfg.MigrateURL, int32(cfg.DBMaxConns), log, dbOpts...)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := checkRLS(startCtx, pool, cfg.Production, log); err != nil {
		return err
	}
	m.WatchPool(pool)

	var req *kafka.Requester
	err = config.Retry(startCtx, log, "connect to kafka", func() (err error) {
		req, err = kafka.NewRequester(kafka.RequesterConfig{
			Brokers: cfg.Brokers, Topic: cfg.OrdersTopic, AckTopic: cfg.AcksTopic,
			InstanceID: cfg.InstanceID, ReplyPartition: int32(cfg.ReplyPartition), Log: log, Metrics: m,
		})
		return err
	})
	if err != nil {
		return err
	}
	defer req.Close()

	store := postgres.NewStore(pool)
	store.RecoveryDelay = cfg.RecoveryDelay
	svc := order.NewService(store, req, log)
	svc.AckTimeout = cfg.AckTimeout
	svc.RequirePrincipal = authn != nil
	if cfg.CrashAfterCommits > 0 {
		svc.AfterCommit = crashAfter(cfg.CrashAfterCommits, log)
	}

	// Subscriptions: the status changes every instance announces (NOTIFY),
	// received on one LISTEN connection and fanned out in memory.
	hub := pubsub.New(pubsub.DefaultBuffer)
	svc.Changes = hub
	// The listener LISTENs only while this instance has subscribers.
	listener := &postgres.Listener{URL: cfg.DatabaseURL, Publish: hub.Publish, Resync: hub.Resync, Log: log,
		Wanted: func() bool { return hub.Len() > 0 }}
	hub.OnCount = func(n int) { m.Subscriptions(n); listener.Poke() }
	lctx, stopListener := context.WithCancel(ctx)
	listenerDone := make(chan struct{})
	go func() { defer close(listenerDone); listener.Run(lctx) }()
	defer func() { stopListener(); <-listenerDone }()
	wsCtx, closeWebsockets := context.WithCancel(context.Background())
	defer closeWebsockets()
	cfg.GraphQL.Websocket.Origins, cfg.GraphQL.Websocket.Shutdown = cfg.CORSOrigins, wsCtx
	if authn != nil {
		cfg.GraphQL.Websocket.Authenticate = authn.Authenticate
	}

	// Publishes events whose publish was lost (crash, Kafka down) again.
	recovery := &order.Recovery{Outbox: store, Publisher: req, Log: log, Interval: cfg.RecoveryEvery, Retry: cfg.RecoveryDelay,
		MaxBackoff: cfg.RecoveryMax,
		Published:  m.Republished}
	rctx, stopRecovery := context.WithCancel(ctx)
	recoveryDone := make(chan struct{})
	go func() { defer close(recoveryDone); recovery.Run(rctx) }()
	defer func() { stopRecovery(); <-recoveryDone }()

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var draining atomic.Bool
	var limiter *ratelimit.Limiter
	if cfg.RateLimit > 0 {
		limiter = ratelimit.New(cfg.RateLimit, cfg.RateBurst)
		cfg.GraphQL.Websocket.Allow = limiter.AllowContext
	}
	mux := newMux(svc, authn, pool, req, &draining, m, cfg.GraphQL, limiter, log)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		log.Warn("pprof enabled on /debug/pprof/")
	}
	if cfg.GraphiQL {
		if err := mountGraphiQL(mux, cfg.GraphiQLToken); err != nil {
			return err
		}
		log.Info("graphiql on /", "demo_token", cfg.GraphiQLToken != "")
	}
	srv := &http.Server{
		Handler:           telemetry.HTTPMiddleware(m.Middleware(withCORS(cfg.CORSOrigins, mux)), log),
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.AckTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(closeWebsockets)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("api listening", "addr", ln.Addr().String(), "graphql", "/graphql", "instance", cfg.InstanceID, "ack_timeout", cfg.AckTimeout.String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	draining.Store(true) // /readyz answers 503 from now on
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// checkRLS logs whether row-level security binds the API's database role
// (docs/SECURITY.md). A superuser, BYPASSRLS or owner role is refused in
// production and logged as a warning elsewhere (benchmark comparisons).
func checkRLS(ctx context.Context, pool *pgxpool.Pool, production bool, log *slog.Logger) error {
	rc, err := postgres.CheckRole(ctx, pool)
	if err != nil {
		return err
	}
	if rc.Enforced() {
		log.Info("database role checked", "role", rc.Role, "row_level_security", true)
		return nil
	}
	if production {
		return fmt.Errorf("DATABASE_URL: %s; in production the API must connect as a login granted orderstream_api (docs/SECURITY.md)", rc)
	}
	log.Warn("ROW-LEVEL SECURITY NOT ENFORCED: DATABASE_URL connects as a superuser, BYPASSRLS or owner role; use a login granted orderstream_api (docs/SECURITY.md)",
		"role", rc.Role, "superuser", rc.Superuser, "bypassrls", rc.BypassRLS, "owner", rc.Owner)
	return nil
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

// mountGraphiQL serves GraphiQL on / and its embedded assets under
// /graphiql/, pointed at /graphql and the published SDL, with token (if
// any) prefilled as the Authorization header. The page itself needs no
// token: it is static, and its requests carry the user's.
func mountGraphiQL(mux *http.ServeMux, token string) error {
	cfg := graphiql.Config{Endpoint: "/graphql", SDLPath: "/graphql/schema.graphql"}
	if token != "" {
		cfg.Headers = map[string]string{"Authorization": "Bearer " + token}
	}
	h, err := graphiql.Handler(cfg)
	if err != nil {
		return fmt.Errorf("graphiql: %w", err)
	}
	mux.Handle("GET /{$}", h)
	mux.Handle("GET "+graphiql.AssetsPrefix, h)
	return nil
}

// crashAfter returns an AfterCommit hook that kills the process with SIGKILL
// after n events, to test that the recovery loop covers the gap.
func crashAfter(n int, log *slog.Logger) func(order.Event) {
	var count atomic.Int64
	log.Warn("FAULT INJECTION: the API kills itself after a number of commits", "commits", n)
	return func(ev order.Event) {
		if count.Add(1) == int64(n) {
			log.Warn("FAULT INJECTION: SIGKILL after commit, before produce", "order_id", ev.OrderID, "event_id", ev.EventID)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never continue to the produce
		}
	}
}

// routerFunc adapts a function to rest.Router.
type routerFunc func(pattern string, h http.Handler)

func (f routerFunc) Handle(pattern string, h http.Handler) { f(pattern, h) }

// newMux routes the API. GraphQL and REST require a bearer token when
// authn is set (the middleware sits inside the mux, per route, so that the
// metrics still see the route pattern); /healthz, /readyz and /metrics
// never do.
func newMux(svc *order.Service, authn *auth.Verifier, pool *pgxpool.Pool, kafkaReady interface{ Ready(context.Context) error },
	draining *atomic.Bool, m *metrics.Metrics, gql graph.Options, limiter *ratelimit.Limiter, log *slog.Logger) *http.ServeMux {
	protect := func(h http.Handler, graphQL bool) http.Handler {
		if authn == nil {
			return h
		}
		if limiter != nil {
			h = limiter.Middleware(h, graphQL) // inside: it keys on the authenticated user
		}
		return authn.Middleware(h, graphQL, log)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", protect(graph.NewHandler(svc, log, m, gql), true))
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /graphql/schema.graphql", graph.SDLHandler())
	rest.Register(routerFunc(func(pattern string, h http.Handler) { mux.Handle(pattern, protect(h, false)) }), svc, log)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		if err := kafkaReady.Ready(ctx); err != nil {
			http.Error(w, "kafka unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
