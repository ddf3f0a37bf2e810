// Package metrics holds OrderStream's Prometheus metrics. Each process makes
// one *Metrics with New and serves it on /metrics. Every method is safe on a
// nil *Metrics, so code under test can run without metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderstream/orderstream/internal/telemetry"
)

// Metrics are the collectors of one process, on a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	graphqlOps     *prometheus.CounterVec
	graphqlLatency *prometheus.HistogramVec
	ackWait        *prometheus.HistogramVec
	ackWaiters     prometheus.Gauge
	lateAcks       prometheus.Counter
	ackMismatches  prometheus.Counter
	produceErrors  *prometheus.CounterVec
	consumeErrors  *prometheus.CounterVec
	republished    prometheus.Counter
	batchSize      prometheus.Histogram
	batchDuration  prometheus.Histogram
	events         *prometheus.CounterVec
	fromMessages   prometheus.Counter
	deadLetters    *prometheus.CounterVec
	unpublishable  prometheus.Counter
	lag            *prometheus.GaugeVec
	subscriptions  prometheus.Gauge
}

var latencyBuckets = []float64{.001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns the metrics of a process of the named service ("api",
// "worker"), with the Go runtime and process collectors registered.
func New(service string) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"service": service}
	m := &Metrics{reg: reg}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_http_requests_total",
		Help: "HTTP requests by route pattern and status code.", ConstLabels: labels}, []string{"route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderstream_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", ConstLabels: labels, Buckets: latencyBuckets}, []string{"route"})
	m.graphqlOps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_graphql_operations_total",
		Help: "GraphQL operations by root field and outcome (OK or the error code).", ConstLabels: labels}, []string{"operation", "outcome"})
	m.graphqlLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderstream_graphql_operation_duration_seconds",
		Help: "GraphQL operation latency by root field.", ConstLabels: labels, Buckets: latencyBuckets}, []string{"operation"})
	m.ackWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderstream_ack_wait_seconds",
		Help: "Time from producing an event to its ACK, by result (ok, nack, timeout, error).", ConstLabels: labels, Buckets: latencyBuckets}, []string{"result"})
	m.ackWaiters = prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderstream_ack_waiters",
		Help: "Requests waiting for a worker ACK now.", ConstLabels: labels})
	m.lateAcks = prometheus.NewCounter(prometheus.CounterOpts{Name: "orderstream_late_acks_total",
		Help: "ACKs that arrived when nobody waited any more (after a timeout).", ConstLabels: labels})
	m.ackMismatches = prometheus.NewCounter(prometheus.CounterOpts{Name: "orderstream_ack_mismatches_total",
		Help: "ACKs dropped because they name another order, event or user than the request waiting for their correlation id.", ConstLabels: labels})
	m.produceErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_kafka_produce_errors_total",
		Help: "Kafka produce failures by topic kind (event, ack, dlq).", ConstLabels: labels}, []string{"kind"})
	m.consumeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_kafka_consume_errors_total",
		Help: "Kafka consume errors by topic kind (event, ack).", ConstLabels: labels}, []string{"kind"})
	m.republished = prometheus.NewCounter(prometheus.CounterOpts{Name: "orderstream_recovery_republished_total",
		Help: "Events the recovery loop published again.", ConstLabels: labels})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderstream_worker_batch_size",
		Help: "Messages per worker micro-batch.", ConstLabels: labels, Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}})
	m.batchDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderstream_worker_batch_duration_seconds",
		Help: "Time to process one micro-batch: database work and ACKs.", ConstLabels: labels, Buckets: latencyBuckets})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_worker_events_total",
		Help: "Event messages processed by the worker, by result (ok, nack, duplicate).", ConstLabels: labels}, []string{"result"})
	m.fromMessages = prometheus.NewCounter(prometheus.CounterOpts{Name: "orderstream_worker_creates_from_messages_total",
		Help: "Creates the worker planned from the items their message carries and applied in one round trip (the others took the general path).", ConstLabels: labels})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderstream_worker_dead_letters_total",
		Help:        "Messages sent to the dead-letter topic, by reason (undecodable, bad_headers, unknown_order, unknown_event, unanswerable, failing).",
		ConstLabels: labels}, []string{"reason"})
	m.unpublishable = prometheus.NewCounter(prometheus.CounterOpts{Name: "orderstream_recovery_unpublishable_total",
		Help: "Events the recovery loop gave up on because Kafka refuses the message itself (their orders are marked FAILED).", ConstLabels: labels})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orderstream_consumer_lag",
		Help: "Messages behind the partition's high-water mark after the last batch, by topic and partition.", ConstLabels: labels}, []string{"topic", "partition"})
	m.subscriptions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderstream_graphql_subscriptions",
		Help: "GraphQL subscriptions (orderUpdated) active now.", ConstLabels: labels})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.graphqlOps, m.graphqlLatency, m.ackWait,
		m.ackWaiters, m.lateAcks, m.ackMismatches, m.unpublishable, m.produceErrors, m.consumeErrors, m.republished, m.batchSize, m.batchDuration,
		m.events, m.fromMessages, m.deadLetters, m.lag, m.subscriptions} {
		f(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchPool exports the connection pool's statistics.
func (m *Metrics) WatchPool(pool *pgxpool.Pool) {
	if m == nil {
		return
	}
	gauge := func(name, help string, v func(*pgxpool.Stat) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return v(pool.Stat()) }))
	}
	gauge("orderstream_db_pool_acquired_conns", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) })
	gauge("orderstream_db_pool_idle_conns", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) })
	gauge("orderstream_db_pool_max_conns", "Pool size limit.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) })
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orderstream_db_pool_acquire_wait_seconds_total",
		Help: "Time spent waiting for a free connection."}, func() float64 { return pool.Stat().AcquireDuration().Seconds() }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orderstream_db_pool_empty_acquires_total",
		Help: "Acquires that had to wait because the pool was empty."}, func() float64 { return float64(pool.Stat().EmptyAcquireCount()) }))
}

// WatchCreateBatches exports the API's group commit of creates: the
// statements that stored more than one create, and the creates they held
// (batches returns both, as postgres.Store.CreateBatches does).
func (m *Metrics) WatchCreateBatches(batches func() (statements, creates int64)) {
	m.watchBatches("orderstream_db_create_batches_total", "Statements that stored the creates of several requests at once (group commit).",
		"orderstream_db_batched_creates_total", "Creates stored by those statements; divided by orderstream_db_create_batches_total, the mean batch.", batches)
}

// WatchLookupBatches exports the API's lookups in one statement: the
// statements that answered more than one lookup, and the lookups they held
// (batches returns both, as postgres.Store.LookupBatches does).
func (m *Metrics) WatchLookupBatches(batches func() (statements, lookups int64)) {
	m.watchBatches("orderstream_db_lookup_batches_total", "Statements that answered the lookups of several requests at once.",
		"orderstream_db_batched_lookups_total", "Lookups answered by those statements; divided by orderstream_db_lookup_batches_total, the mean batch.", batches)
}

// WatchBatchStalls exports the API's stalled batches: statements of
// gathered creates or lookups that ran for DB_BATCH_STALL, each of which let
// another statement start beside it (stalls returns the count, as
// postgres.Store.BatchStalls does).
func (m *Metrics) WatchBatchStalls(stalls func() int64) {
	m.watchCount("orderstream_db_batch_stalls_total", "Statements of gathered creates or lookups that ran for DB_BATCH_STALL, each letting another statement start beside it.", stalls)
}

// WatchMergeStalls exports the worker's stalled merged batches: batches
// processed for WORKER_MERGE_STALL, each of which let another loop take
// the batches waiting meanwhile.
func (m *Metrics) WatchMergeStalls(stalls func() int64) {
	m.watchCount("orderstream_worker_merge_stalls_total", "Merged batches processed for WORKER_MERGE_STALL, each letting another loop take the batches waiting meanwhile.", stalls)
}

func (m *Metrics) watchCount(name, help string, count func() int64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(count()) }))
}

// watchBatches exports the two counters of a combiner: its statements of
// several requests, and the requests they held.
func (m *Metrics) watchBatches(statements, statementsHelp, requests, requestsHelp string, batches func() (int64, int64)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: statements, Help: statementsHelp},
		func() float64 { n, _ := batches(); return float64(n) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: requests, Help: requestsHelp},
		func() float64 { _, n := batches(); return float64(n) }))
}

// Middleware counts and times HTTP requests by their route pattern.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := telemetry.NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		route := telemetry.Route(r)
		m.httpRequests.WithLabelValues(route, strconv.Itoa(sw.Status)).Inc()
		if sw.Status != http.StatusSwitchingProtocols { // a websocket's lifetime is not a latency
			m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}

// GraphQLOperation records one GraphQL operation.
func (m *Metrics) GraphQLOperation(operation, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.graphqlOps.WithLabelValues(operation, outcome).Inc()
	m.graphqlLatency.WithLabelValues(operation).Observe(d.Seconds())
}

// AckWaitStarted counts a request that starts waiting for an ACK and returns
// the function that records how the wait ended.
func (m *Metrics) AckWaitStarted() func(result string) {
	if m == nil {
		return func(string) {}
	}
	start := time.Now()
	m.ackWaiters.Inc()
	return func(result string) {
		m.ackWaiters.Dec()
		m.ackWait.WithLabelValues(result).Observe(time.Since(start).Seconds())
	}
}

// LateAck counts an ACK nobody waited for.
func (m *Metrics) LateAck() {
	if m != nil {
		m.lateAcks.Inc()
	}
}

// ProduceError counts a failed produce of a kind of message (event, ack, dlq).
func (m *Metrics) ProduceError(kind string) {
	if m != nil {
		m.produceErrors.WithLabelValues(kind).Inc()
	}
}

// ConsumeError counts a consume error on a kind of topic (event, ack).
func (m *Metrics) ConsumeError(kind string) {
	if m != nil {
		m.consumeErrors.WithLabelValues(kind).Inc()
	}
}

// Republished counts events the recovery loop published again.
func (m *Metrics) Republished(n int) {
	if m != nil {
		m.republished.Add(float64(n))
	}
}

// Batch records a worker micro-batch: its size, duration and results, and
// how many of its creates were applied from their messages' plan.
func (m *Metrics) Batch(size int, d time.Duration, ok, nack, duplicate, fromMessages int) {
	if m == nil {
		return
	}
	m.fromMessages.Add(float64(fromMessages))
	m.batchSize.Observe(float64(size))
	m.batchDuration.Observe(d.Seconds())
	m.events.WithLabelValues("ok").Add(float64(ok))
	m.events.WithLabelValues("nack").Add(float64(nack))
	m.events.WithLabelValues("duplicate").Add(float64(duplicate))
}

// DeadLetter counts a dead-lettered message by reason.
func (m *Metrics) DeadLetter(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

// AckMismatch counts an ACK dropped because it does not answer the request
// waiting for its correlation id.
func (m *Metrics) AckMismatch() {
	if m != nil {
		m.ackMismatches.Inc()
	}
}

// Unpublishable counts an event the recovery loop gave up on.
func (m *Metrics) Unpublishable() {
	if m != nil {
		m.unpublishable.Inc()
	}
}

// ForgetLag drops the lag of a partition this process no longer consumes,
// so that it does not keep reporting a stale value after a rebalance.
func (m *Metrics) ForgetLag(topic string, partition int32) {
	if m != nil {
		m.lag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
	}
}

// Lag records how far behind a partition's high-water mark the worker is.
func (m *Metrics) Lag(topic string, partition int32, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
	}
}

// Subscriptions records how many GraphQL subscriptions are active.
func (m *Metrics) Subscriptions(n int) {
	if m != nil {
		m.subscriptions.Set(float64(n))
	}
}
