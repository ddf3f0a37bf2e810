// Command worker is the OrderStream worker: a Kafka consumer group on the
// orders topic. For each event it marks the order PROCESSING, applies the
// order's pending events in one PostgreSQL transaction, produces the ACK to
// the API instance that waits for it, and only then marks the offset.
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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// workerConfig is the worker's configuration, read from the environment.
type workerConfig struct {
	DatabaseURL    string        // DATABASE_URL: a login granted orderstream_worker
	MigrateURL     string        // MIGRATE_DATABASE_URL: the tables' owner ("" = DATABASE_URL)
	DBMaxConns     int           // DB_MAX_CONNS
	Brokers        []string      // KAFKA_BROKERS
	OrdersTopic    string        // KAFKA_ORDERS_TOPIC
	AcksTopic      string        // KAFKA_ACKS_TOPIC: the only topic ACKs go to
	Group          string        // KAFKA_GROUP
	DLQTopic       string        // KAFKA_DLQ_TOPIC
	MaxAttempts    int           // MAX_ATTEMPTS
	BatchSize      int           // WORKER_BATCH_SIZE
	MergeLoops     int           // WORKER_MERGE_LOOPS (0 = each partition's batch alone)
	HealthPort     string        // HEALTH_PORT ("" = no health endpoint)
	StartupTimeout time.Duration // STARTUP_TIMEOUT
	LogLevel       string        // LOG_LEVEL
}

func loadWorkerConfig() (workerConfig, error) {
	var e config.Env
	c := workerConfig{
		DatabaseURL:    e.String("DATABASE_URL", "postgres://postgres@127.0.0.1:55432/orderstream?sslmode=disable"),
		MigrateURL:     e.String("MIGRATE_DATABASE_URL", ""),
		DBMaxConns:     e.Int("DB_MAX_CONNS", 16),
		Brokers:        e.List("KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		OrdersTopic:    e.String("KAFKA_ORDERS_TOPIC", "orders"),
		AcksTopic:      e.String("KAFKA_ACKS_TOPIC", "order-acks"),
		Group:          e.String("KAFKA_GROUP", "orderstream-worker"),
		DLQTopic:       e.String("KAFKA_DLQ_TOPIC", "orders-dlq"),
		MaxAttempts:    e.Int("MAX_ATTEMPTS", 5),
		BatchSize:      e.Int("WORKER_BATCH_SIZE", 256),
		MergeLoops:     e.Int("WORKER_MERGE_LOOPS", 2),
		HealthPort:     e.String("HEALTH_PORT", ""),
		StartupTimeout: e.Duration("STARTUP_TIMEOUT", 2*time.Minute),
		LogLevel:       e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}

func main() {
	cfg, err := loadWorkerConfig()
	log := config.NewLogger("worker", cfg.LogLevel)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run consumes until ctx ends; then the current message is finished, marked
// offsets are committed and the worker leaves the group.
func run(ctx context.Context, cfg workerConfig, log *slog.Logger) error {
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()

	// Tracing (OTEL_* variables): off unless an OTLP endpoint is set.
	stopTracing, err := telemetry.Setup(ctx, "orderstream-worker", log)
	if err != nil {
		return err
	}
	defer telemetry.Flush(stopTracing, log)
	dbOpts := []postgres.Option{postgres.WithCustomPlans()}
	if telemetry.Enabled() {
		dbOpts = append(dbOpts, postgres.WithTracing())
	}

	m := metrics.New("worker")
	pool, err := postgres.Start(ctx, startCtx, cfg.DatabaseURL, cfg.MigrateURL, int32(cfg.DBMaxConns), log, dbOpts...)
	if err != nil {
		return err
	}
	defer pool.Close()
	m.WatchPool(pool)

	var replier *kafka.Replier
	if err := config.Retry(startCtx, log, "connect ack producer", func() (err error) {
		replier, err = kafka.NewReplier(cfg.Brokers, nil, cfg.AcksTopic)
		if err == nil {
			replier.Metrics = m
		}
		return err
	}); err != nil {
		return err
	}
	defer replier.Close()

	var group sarama.ConsumerGroup
	if err := config.Retry(startCtx, log, "join consumer group", func() (err error) {
		group, err = sarama.NewConsumerGroup(cfg.Brokers, cfg.Group, kafka.NewConfig("orderstream-worker"))
		return err
	}); err != nil {
		return err
	}
	go func() {
		for err := range group.Errors() {
			log.Warn("consumer group", "err", err)
			m.ConsumeError("event")
		}
	}()

	if cfg.HealthPort != "" {
		go serveHealth(ctx, cfg.HealthPort, pool, m, log)
	}

	h := &handler{store: &order.Processor{Store: postgres.NewStore(pool)}, replier: replier, log: log, dlqTopic: cfg.DLQTopic, maxAttempts: cfg.MaxAttempts, batchSize: cfg.BatchSize, metrics: m}
	if cfg.MergeLoops > 0 {
		h.combiner = newCombiner(ctx, func(items []item) error { return h.process(ctx, items) }, h.maxBatch(), cfg.MergeLoops)
	}
	log.Info("worker consuming", "topic", cfg.OrdersTopic, "group", cfg.Group)
	for ctx.Err() == nil {
		// Consume returns at each rebalance; loop to rejoin.
		if err := group.Consume(ctx, []string{cfg.OrdersTopic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			log.Warn("consume", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	log.Info("shutting down: committing offsets and leaving the group")
	if err := group.Close(); err != nil {
		return fmt.Errorf("close consumer group: %w", err)
	}
	if h.combiner != nil {
		h.combiner.wait() // no merged batch may still use the pool or the replier
	}
	log.Info("stopped")
	return nil
}

// serveHealth serves GET /healthz (the process runs), GET /readyz (the
// database answers) and GET /metrics on port until ctx ends.
func serveHealth(ctx context.Context, port string, pool *pgxpool.Pool, m *metrics.Metrics, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
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
	srv := &http.Server{Addr: net.JoinHostPort("", port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("health endpoint", "err", err)
	}
}
