// Command orderstream is the OrderStream API: GraphQL on /graphql and the
// REST mirror on /orders. Every write is stored in PostgreSQL, sent to the
// worker through Kafka, and answered once the worker ACKs it.
//
// Configuration comes from the environment (internal/config, the README's
// table). This file is wiring only: Main.Run opens the database, Kafka, the
// service, the background loops and the HTTP server, each step handing back
// its closer; Main.Close drains and closes them in reverse order.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/backoff"
	"github.com/orderstream/orderstream/internal/closer"
	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/faultinject"
	"github.com/orderstream/orderstream/internal/httpapi"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/pubsub"
	"github.com/orderstream/orderstream/internal/ratelimit"
	"github.com/orderstream/orderstream/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.LoadAPI(config.OSEnv)
	log := config.NewLogger("api", cfg.LogLevel)
	slog.SetDefault(log)                                            // the log package's lines (gqlgen's among them) are JSON too
	rt := config.RuntimeDefaults(config.OSEnv, memlimit.FromCgroup) // GOGC 400 and a memory limit from the container unless set
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	log.Info("go runtime", "gogc", rt.GOGC, "memory_limit_bytes", rt.MemoryLimit, "memory_limit_from", rt.MemoryLimitFrom)
	m := NewMain(cfg, log)
	if err := m.Run(ctx); err != nil {
		m.Close()
		var bad configError
		if errors.As(err, &bad) {
			log.Error("start", "err", err)
			os.Exit(2)
		}
		log.Error("exit", "err", err)
		os.Exit(1)
	}
	err = m.Wait(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// configError is a Run error caused by the configuration (exit status 2).
type configError struct{ error }

// Main is the API process: its configuration, and what Run opened, which
// Close closes in reverse order.
type Main struct {
	Config config.API
	Log    *slog.Logger

	metrics  *metrics.Metrics
	draining atomic.Bool   // /readyz answers 503 from the start of Close
	served   chan struct{} // closed when the HTTP server has stopped
	serveErr error         // its result, set before served is closed
	// closeWebsockets ends the subscriptions' connections when the server
	// shuts down (hijacked connections are not drained by Shutdown).
	closeWebsockets context.CancelFunc
	closers         closer.Stack
}

// NewMain returns a Main for cfg; Run starts it.
func NewMain(cfg config.API, log *slog.Logger) *Main {
	if cfg.InstanceID == "" {
		host, _ := os.Hostname()
		cfg.InstanceID = strings.ReplaceAll(host, ":", "-") + "-" + uuid.NewString()[:8]
	}
	return &Main{Config: cfg, Log: log, metrics: metrics.New("api"), served: make(chan struct{})}
}

// Run opens everything and starts serving; it returns once the API
// listens. On an error the caller calls Close, which closes what was opened.
func (m *Main) Run(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, m.Config.StartupTimeout)
	defer cancel()
	authn, closeAuth, err := m.openAuth()
	if err != nil {
		return configError{err}
	}
	m.onClose(closeAuth)
	// Tracing (OTEL_* variables): off unless an OTLP endpoint is set.
	stopTracing, err := telemetry.Setup(ctx, "orderstream-api", m.Log)
	if err != nil {
		return err
	}
	m.onClose(func() error { telemetry.Flush(stopTracing, m.Log); return nil })
	pool, closeDB, err := m.openDatabase(ctx, startCtx)
	if err != nil {
		return err
	}
	m.onClose(closeDB)
	req, closeKafka, err := m.openKafka(startCtx)
	if err != nil {
		return err
	}
	m.onClose(closeKafka)
	svc, hub, store := m.buildService(pool, req, authn != nil)
	m.onClose(m.startLoops(ctx, hub, store, req))
	closeHTTP, err := m.serve(ctx, m.handler(svc, authn, pool, req))
	if err != nil {
		return err
	}
	m.onClose(closeHTTP)
	return nil
}

// Wait returns when ctx ends (nil) or the HTTP server fails.
func (m *Main) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-m.served:
		return fmt.Errorf("serve: %w", m.serveErr)
	}
}

// Close drains the HTTP server (see serve), then stops the loops and
// closes Kafka, the database, tracing and authentication. It returns the
// first error.
func (m *Main) Close() error { return m.closers.Close() }

func (m *Main) onClose(f func() error) { m.closers.Add(f) }

// openAuth returns the bearer-token verifier the configuration asks for,
// or nil when authentication is explicitly disabled. With no key
// configured and AUTH_DISABLED not true, the API refuses to start.
func (m *Main) openAuth() (*auth.Verifier, func() error, error) {
	a, log := m.Config.Auth, m.Log
	none := func() error { return nil }
	if a.JWTSecret == "" && a.JWKSFile == "" && a.JWKSURL == "" {
		if !a.Disabled {
			return nil, none, errors.New("no authentication configured: set AUTH_JWT_SECRET (HS256 shared secret) and/or " +
				"AUTH_JWKS_FILE or AUTH_JWKS_URL (RS256/ES256 public keys), or AUTH_DISABLED=true to run without authentication (tests only)")
		}
		log.Warn("AUTHENTICATION DISABLED (AUTH_DISABLED=true): anyone who can reach this API can read and change every user's orders; never run like this in production")
		return nil, none, nil
	}
	if a.Disabled {
		log.Warn("AUTH_DISABLED=true is ignored: AUTH_JWT_SECRET, AUTH_JWKS_FILE or AUTH_JWKS_URL is set, so authentication is on")
	}
	v, err := auth.NewFromFiles(auth.Config{
		Secret: []byte(a.JWTSecret), Issuer: a.Issuer, Audience: a.Audience, JWKSURL: a.JWKSURL,
		JWKSRefresh: a.JWKSRefresh, JWKSUnknownKIDEvery: a.JWKSUnknownKIDEvery, Log: log,
	}, a.JWKSFile)
	if err != nil {
		return nil, none, fmt.Errorf("authentication configuration (AUTH_JWT_SECRET, AUTH_JWKS_FILE, AUTH_JWKS_URL): %w", err)
	}
	log.Info("authentication on", "hs256_secret", a.JWTSecret != "", "jwks_file", a.JWKSFile, "jwks_url", a.JWKSURL,
		"issuer", a.Issuer, "audience", a.Audience)
	return v, func() error { v.Close(); return nil }, nil
}

// openDatabase waits for PostgreSQL, migrates it and checks that
// row-level security binds the API's role.
func (m *Main) openDatabase(ctx, startCtx context.Context) (*pgxpool.Pool, func() error, error) {
	var opts []postgres.Option
	if telemetry.Enabled() {
		opts = append(opts, postgres.WithTracing())
	}
	cfg := m.Config
	pool, err := postgres.Start(ctx, startCtx, cfg.DatabaseURL, cfg.MigrateURL, int32(cfg.DBMaxConns), m.Log, opts...)
	if err != nil {
		return nil, nil, err
	}
	closeDB := func() error { pool.Close(); return nil }
	if err := postgres.RequireRLS(startCtx, pool, cfg.Production(), m.Log); err != nil {
		return nil, closeDB, errors.Join(err, closeDB())
	}
	m.metrics.WatchPool(pool)
	return pool, closeDB, nil
}

// openKafka connects the requester: events out, ACKs in.
func (m *Main) openKafka(startCtx context.Context) (*kafka.Requester, func() error, error) {
	cfg := m.Config
	// Its topics exist with the partition count the partitioner needs, or
	// the API does not start.
	if err := kafka.ProvisionTopics(startCtx, m.Log, cfg.Brokers, cfg.KafkaCreateTopics, cfg.Topics(cfg.OrdersTopic, cfg.AcksTopic)...); err != nil {
		return nil, nil, err
	}
	var req *kafka.Requester
	err := backoff.Retry(startCtx, m.Log, "connect to kafka", func() (err error) {
		req, err = kafka.NewRequester(kafka.RequesterConfig{
			Brokers: cfg.Brokers, Topic: cfg.OrdersTopic, AckTopic: cfg.AcksTopic,
			InstanceID: cfg.InstanceID, ReplyPartition: int32(cfg.ReplyPartition), Log: m.Log, Metrics: m.metrics,
			MaxMessageBytes: cfg.KafkaMaxMessageBytes, ProduceTimeout: cfg.ProduceTimeout,
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return req, req.Close, nil
}

// buildService makes the order service over the store and the requester,
// with the hub that fans status changes out to subscriptions.
func (m *Main) buildService(pool *pgxpool.Pool, req *kafka.Requester, authOn bool) (*order.Service, *pubsub.Hub, *postgres.Store) {
	cfg := m.Config
	store := postgres.NewStore(pool)
	store.RecoveryDelay = cfg.RecoveryDelay
	store.BatchCreates(cfg.CreateBatchMax, cfg.CreateBatchInFlight, cfg.BatchStallAfter)
	m.metrics.WatchCreateBatches(store.CreateBatches)
	store.BatchLookups(cfg.LookupBatchMax, cfg.LookupBatchInFlight, cfg.BatchStallAfter)
	m.metrics.WatchLookupBatches(store.LookupBatches)
	m.metrics.WatchBatchStalls(store.BatchStalls)
	svc := order.NewService(store, req, m.Log)
	svc.AckTimeout = cfg.AckTimeout
	svc.MaxMessageBytes = cfg.KafkaMaxMessageBytes
	svc.RequirePrincipal = authOn
	if cfg.CrashAfterCommits > 0 {
		svc.AfterCommit = faultinject.CrashAfterCommits(cfg.CrashAfterCommits, m.Log)
	}
	hub := pubsub.New(pubsub.DefaultBuffer)
	svc.Changes = hub
	return svc, hub, store
}

// startLoops starts the status listener (LISTEN, only while this instance
// has subscribers) and the recovery loop (publishes again the events whose
// publish was lost); the closer stops both and waits for them.
func (m *Main) startLoops(ctx context.Context, hub *pubsub.Hub, store *postgres.Store, req *kafka.Requester) func() error {
	cfg := m.Config
	listener := &postgres.Listener{URL: cfg.DatabaseURL, Publish: hub.Publish, Resync: hub.Resync, Log: m.Log,
		Wanted: func() bool { return hub.Len() > 0 }}
	hub.OnCount = func(n int) { m.metrics.Subscriptions(n); listener.Poke() }
	recovery := &order.Recovery{Outbox: store, Publisher: req, Log: m.Log, Interval: cfg.RecoveryEvery, Retry: cfg.RecoveryDelay,
		MaxBackoff: cfg.RecoveryMax, Published: m.metrics.Republished}
	ctx, stop := context.WithCancel(ctx)
	listened, recovered := make(chan struct{}), make(chan struct{})
	go func() { defer close(listened); listener.Run(ctx) }()
	go func() { defer close(recovered); recovery.Run(ctx) }()
	return func() error { stop(); <-listened; <-recovered; return nil }
}

// handler is the API's HTTP surface (internal/httpapi) over the service.
func (m *Main) handler(svc *order.Service, authn *auth.Verifier, pool *pgxpool.Pool, req *kafka.Requester) http.Handler {
	cfg := m.Config
	wsCtx, closeWebsockets := context.WithCancel(context.Background())
	m.closeWebsockets = closeWebsockets
	m.onClose(func() error { closeWebsockets(); return nil }) // also when the server never started
	r := httpapi.Routes{Orders: svc, Auth: authn, Metrics: m.metrics, Draining: &m.draining, Log: m.Log, Pprof: cfg.Pprof,
		CORSOrigins: cfg.CORSOrigins, CheckHost: !cfg.Production(), AllowedHosts: cfg.AllowedHosts,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return errors.New("database unavailable")
			}
			if err := req.Ready(ctx); err != nil {
				return errors.New("kafka unavailable")
			}
			return nil
		},
		GraphQL: graph.Options{
			MaxDepth: cfg.GraphQL.MaxDepth, MaxFields: cfg.GraphQL.MaxFields, MaxComplexity: cfg.GraphQL.MaxComplexity,
			TokenLimit: cfg.GraphQL.TokenLimit, MaxResponseBytes: cfg.GraphQL.MaxResponseBytes,
			Introspection: cfg.GraphQL.Introspection, Suggestions: !cfg.Production(),
			Websocket: graph.WebsocketOptions{PingInterval: cfg.GraphQL.WSPingInterval, MaxSubscriptions: cfg.GraphQL.WSMaxSubscriptions,
				Origins: cfg.CORSOrigins, Shutdown: wsCtx},
		},
	}
	if cfg.RateLimitRPS > 0 {
		r.Limiter = ratelimit.New(float64(cfg.RateLimitRPS), cfg.RateBurst)
		r.GraphQL.Websocket.Allow = r.Limiter.AllowContext
	}
	if authn != nil {
		r.GraphQL.Websocket.Authenticate = authn.Authenticate
	}
	if cfg.GraphiQL {
		r.GraphiQL, r.DemoToken = true, cfg.GraphiQLToken
		m.Log.Info("graphiql on /", "demo_token", cfg.GraphiQLToken != "")
	}
	return httpapi.Handler(r)
}

// serve listens on HOST:PORT and serves h. The closer drains: /readyz
// answers 503 at once, the API keeps serving for SHUTDOWN_DRAIN_DELAY so
// that load balancers stop sending to it, then the listener closes and
// in-flight requests finish (up to SHUTDOWN_TIMEOUT).
func (m *Main) serve(ctx context.Context, h http.Handler) (func() error, error) {
	cfg := m.Config
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.AckTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          config.ErrorLog(m.Log),
	}
	srv.RegisterOnShutdown(m.closeWebsockets)
	go func() { m.serveErr = srv.Serve(ln); close(m.served) }()
	m.Log.Info("api listening", "addr", ln.Addr().String(), "graphql", "/graphql", "instance", cfg.InstanceID, "ack_timeout", cfg.AckTimeout.String())
	return func() error {
		m.draining.Store(true) // /readyz answers 503 from now on
		if cfg.DrainDelay > 0 {
			m.Log.Info("draining: /readyz answers 503, still serving", "for", cfg.DrainDelay.String())
			time.Sleep(cfg.DrainDelay)
		}
		m.Log.Info("shutting down: closing the listener, finishing in-flight requests", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			m.Log.Warn("shutdown", "err", err)
		}
		<-m.served
		if !errors.Is(m.serveErr, http.ErrServerClosed) {
			return m.serveErr
		}
		return nil
	}, nil
}
