// Command worker is the OrderStream worker: a Kafka consumer group on the
// orders topic. For each event it marks the order PROCESSING, applies the
// order's pending events in one PostgreSQL transaction, produces the ACK to
// the API instance that waits for it, and only then marks the offset.
//
// This file is wiring only, in the shape of the API's server.go: Main.Run
// opens the database, Kafka, the handler and the health endpoint, each step
// handing back its closer; Main.Close closes them in reverse order.
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
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/backoff"
	"github.com/orderstream/orderstream/internal/closer"
	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.LoadWorker(config.OSEnv)
	log := config.NewLogger("worker", cfg.LogLevel)
	slog.SetDefault(log)
	rt := config.RuntimeDefaults(config.OSEnv, memlimit.FromCgroup) // GOGC 400 and a memory limit from the container unless set
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	log.Info("go runtime", "gogc", rt.GOGC, "memory_limit_bytes", rt.MemoryLimit, "memory_limit_from", rt.MemoryLimitFrom)
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// run runs a worker until ctx ends, and closes it.
func run(ctx context.Context, cfg config.Worker, log *slog.Logger) error {
	m := &Main{Config: cfg, Log: log, metrics: metrics.New("worker")}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// Main is the worker process: its configuration, and what Run opened,
// which Close closes in reverse order.
type Main struct {
	Config config.Worker
	Log    *slog.Logger

	metrics *metrics.Metrics
	closers closer.Stack
}

// Run opens everything and consumes until ctx ends; then the current batch
// is finished, marked offsets are committed and the worker leaves the
// group. The caller calls Close afterwards, also after an error.
func (m *Main) Run(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, m.Config.StartupTimeout)
	defer cancel()
	// Tracing (OTEL_* variables): off unless an OTLP endpoint is set.
	stopTracing, err := telemetry.Setup(ctx, "orderstream-worker", m.Log)
	if err != nil {
		return err
	}
	m.onClose(func() error { telemetry.Flush(stopTracing, m.Log); return nil })
	pool, err := m.openDatabase(ctx, startCtx)
	if err != nil {
		return err
	}
	replier, group, err := m.openKafka(startCtx)
	if err != nil {
		return err
	}
	h := m.buildHandler(ctx, pool, replier)
	if m.Config.HealthPort != "" {
		m.onClose(m.serveHealth(ctx, pool))
	}
	return m.consume(ctx, group, h)
}

// Close closes what Run opened, newest first, and returns the first error.
func (m *Main) Close() error { return m.closers.Close() }

func (m *Main) onClose(f func() error) { m.closers.Add(f) }

// openDatabase waits for PostgreSQL and migrates it.
func (m *Main) openDatabase(ctx, startCtx context.Context) (*pgxpool.Pool, error) {
	opts := []postgres.Option{postgres.WithKeyPlans()}
	if telemetry.Enabled() {
		opts = append(opts, postgres.WithTracing())
	}
	cfg := m.Config
	pool, err := postgres.Start(ctx, startCtx, cfg.DatabaseURL, cfg.MigrateURL, int32(cfg.DBMaxConns), m.Log, opts...)
	if err != nil {
		return nil, err
	}
	m.onClose(func() error { pool.Close(); return nil })
	m.metrics.WatchPool(pool)
	return pool, nil
}

// openKafka connects the ACK producer and joins the consumer group.
func (m *Main) openKafka(startCtx context.Context) (*kafka.Replier, sarama.ConsumerGroup, error) {
	cfg := m.Config
	// Its topics exist with the partition count the API partitions by, or
	// the worker does not start.
	if err := kafka.ProvisionTopics(startCtx, m.Log, cfg.Brokers, cfg.KafkaCreateTopics,
		cfg.Topics(cfg.OrdersTopic, cfg.AcksTopic, cfg.DLQTopic)...); err != nil {
		return nil, nil, err
	}
	var replier *kafka.Replier
	if err := backoff.Retry(startCtx, m.Log, "connect ack producer", func() (err error) {
		kcfg := kafka.NewConfig("orderstream-worker")
		kcfg.Producer.MaxMessageBytes = cfg.KafkaMaxMessageBytes
		replier, err = kafka.NewReplier(cfg.Brokers, kcfg, cfg.AcksTopic)
		if err == nil {
			replier.Metrics = m.metrics
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	m.onClose(replier.Close)
	var group sarama.ConsumerGroup
	if err := backoff.Retry(startCtx, m.Log, "join consumer group", func() (err error) {
		group, err = sarama.NewConsumerGroup(cfg.Brokers, cfg.Group, kafka.NewConfig("orderstream-worker"))
		return err
	}); err != nil {
		return nil, nil, err
	}
	go func() {
		for err := range group.Errors() {
			m.Log.Warn("consumer group", "err", err)
			m.metrics.ConsumeError("event")
		}
	}()
	return replier, group, nil
}

// buildHandler makes the consumer group handler, with the combiner that
// merges the batches of several partitions when WORKER_MERGE_LOOPS > 0.
func (m *Main) buildHandler(ctx context.Context, pool *pgxpool.Pool, replier *kafka.Replier) *handler {
	cfg := m.Config
	h := &handler{store: &order.Processor{Store: postgres.NewStore(pool)}, replier: replier, log: m.Log, dlqTopic: cfg.DLQTopic,
		maxAttempts: cfg.MaxAttempts, batchSize: cfg.BatchSize, metrics: m.metrics, createsFromMessages: cfg.CreatesFromMessages}
	if cfg.MergeLoops > 0 {
		h.combiner = newCombiner(ctx, func(items []item) error { return h.process(ctx, items) }, h.maxBatch(), cfg.MergeLoops, cfg.MergeStall)
		m.metrics.WatchMergeStalls(h.combiner.stalls.Load)
		// No merged batch may still use the pool or the replier once they close.
		m.onClose(func() error { h.combiner.wait(); return nil })
	}
	return h
}

// consume runs the group until ctx ends, then leaves it: the current batch
// is finished and the marked offsets committed.
func (m *Main) consume(ctx context.Context, group sarama.ConsumerGroup, h *handler) error {
	cfg := m.Config
	m.Log.Info("worker consuming", "topic", cfg.OrdersTopic, "group", cfg.Group)
	for ctx.Err() == nil {
		// Consume returns at each rebalance; loop to rejoin.
		if err := group.Consume(ctx, []string{cfg.OrdersTopic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			m.Log.Warn("consume", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	m.Log.Info("shutting down: committing offsets and leaving the group")
	if err := group.Close(); err != nil {
		return fmt.Errorf("close consumer group: %w", err)
	}
	return nil
}

// serveHealth serves GET /healthz (the process runs), GET /readyz (the
// database answers) and GET /metrics on HOST:HEALTH_PORT until ctx ends or
// Close.
func (m *Main) serveHealth(ctx context.Context, pool *pgxpool.Pool) func() error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(pctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if m.Config.Pprof {
		telemetry.ServePprof(mux, m.Log)
	}
	srv := &http.Server{Addr: net.JoinHostPort(m.Config.Host, m.Config.HealthPort), Handler: mux,
		ReadHeaderTimeout: 5 * time.Second, ErrorLog: config.ErrorLog(m.Log)}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("health endpoint", "err", err)
		}
	}()
	return func() error { stop(); return srv.Close() }
}
