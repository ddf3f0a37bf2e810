package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/gqltest"
	"github.com/orderstream/orderstream/internal/testbin"
)

// Topics every stack creates, with devstack.DefaultPartitions partitions.
const (
	ordersTopic = config.DefaultOrdersTopic
	acksTopic   = config.DefaultAcksTopic
	dlqTopic    = config.DefaultDLQTopic
)

// Suite settings, from the environment.
var (
	// loadDuration is how long each case drives load: FAULTS_DURATION, 4 s
	// by default (the short form run by make test).
	loadDuration = 4 * time.Second
	// longForm is true when FAULTS_DURATION is set (make faults).
	longForm bool
	// loadClients is the number of concurrent clients: FAULTS_CLIENTS, 8.
	loadClients = 8
	// settleTimeout bounds the wait for every order to become final once
	// the fault is healed and the load has ended: FAULTS_SETTLE, 60 s.
	settleTimeout = 60 * time.Second
	// seed makes the random choices (kill points, items) reproducible:
	// FAULTS_SEED, else the time.
	seed = uint64(time.Now().UnixNano())
	// logLevel is the API's LOG_LEVEL (FAULTS_LOG_LEVEL, info); workers log
	// at debug unless FAULTS_LOG_LEVEL is set, to count redeliveries.
	logLevel       = "info"
	workerLogLevel = "debug"
	// kafkaKind is the broker of the cases that do not choose one:
	// FAULTS_KAFKA, else KAFKA_KIND (make test sets apache), else kfake;
	// apache is one Apache Kafka node per case, apache3 three.
	kafkaKind = "kfake"
)

func TestMain(m *testing.M) {
	if err := readSettings(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func readSettings() error {
	if v := os.Getenv("FAULTS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("FAULTS_DURATION=%q: want a positive duration such as 60s", v)
		}
		loadDuration, longForm = d, true
	}
	if v := os.Getenv("FAULTS_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return fmt.Errorf("FAULTS_CLIENTS=%q: want 1 to 64", v)
		}
		loadClients = n
	}
	if v := os.Getenv("FAULTS_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("FAULTS_SETTLE=%q: want a positive duration", v)
		}
		settleTimeout = d
	}
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("FAULTS_SEED=%q: want an unsigned integer", v)
		}
		seed = n
	}
	for _, name := range []string{"KAFKA_KIND", "FAULTS_KAFKA"} {
		if v := os.Getenv(name); v != "" {
			kafkaKind = v
		}
	}
	switch kafkaKind {
	case "kfake", "apache", "apache3":
	default:
		return fmt.Errorf("FAULTS_KAFKA/KAFKA_KIND=%q: want kfake, apache or apache3", kafkaKind)
	}
	if v := os.Getenv("FAULTS_LOG_LEVEL"); v != "" {
		logLevel, workerLogLevel = v, v
	}
	return nil
}

// caseRand returns the random source of one case: the suite seed mixed
// with the case name, so that one case reproduces alone with FAULTS_SEED.
func caseRand(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// binaries builds the API and the worker once per test run, from the
// working tree as it is now.
func binaries(t *testing.T) (api, worker string) { return testbin.Build(t) }

// stack is one OrderStream with infrastructure of its own, on the stack
// launcher (devstack.Stack): a PostgreSQL cluster and a kfake broker that
// the case may restart without disturbing other tests, optionally a
// Toxiproxy in front of PostgreSQL, and the API and worker processes.
type stack struct {
	t    *testing.T
	name string
	dir  string // removed at the end unless the case failed

	ds    *devstack.Stack
	pg    *devstack.Postgres
	dbURL string        // direct, for the checker
	db    *pgxpool.Pool // the checker's pool on dbURL
	proxy *toxiproxy.Proxy

	kafkaOpts devstack.KafkaOptions
	kmu       sync.Mutex
	kafka     devstack.Broker
	// apache is the broker when it is an Apache Kafka cluster (nodes the
	// case can kill, pause and restart); nil with kfake.
	apache  *devstack.ApacheKafka
	brokers []string

	group      string
	ackTimeout time.Duration
	env        []string // extra environment of every process

	pmu   sync.Mutex
	procs []*proc
}

type stackOptions struct {
	// toxiproxy puts an embedded Toxiproxy between the processes and
	// PostgreSQL.
	toxiproxy bool
	// ackTimeout is the API's ACK_TIMEOUT; 0 means 5 s.
	ackTimeout time.Duration
	// env is added to every process's environment.
	env []string
	// kafka is the broker kind ("" = kafkaKind): kfake, apache, apache3.
	kafka string
	// durableCommits runs PostgreSQL with synchronous_commit on (fsync
	// stays off): a case that kills PostgreSQL itself must not lose commits
	// to the suite's fast settings, which only a crash of the machine
	// should be able to do.
	durableCommits bool
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "orderstream-faults-")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, name: t.Name(), dir: dir, ackTimeout: opts.ackTimeout, env: opts.env,
		group: "faults-" + strconv.FormatUint(rand.Uint64()%1e8, 10)}
	if s.ackTimeout == 0 {
		s.ackTimeout = 5 * time.Second
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FAULTS_KEEP") != "" {
			t.Logf("logs and data of this case are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})

	klog, err := os.OpenFile(filepath.Join(dir, "kafka.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { klog.Close() })
	kind := opts.kafka
	if kind == "" {
		kind = kafkaKind
	}
	if kind == "kfake" {
		// The broker runs on a fixed port and data directory, so that a
		// case can close it and start it again (startKafka).
		kport, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s.kafkaOpts = devstack.KafkaOptions{
			Port: kport, DataDir: filepath.Join(dir, "kafka"),
			Topics: []string{ordersTopic, acksTopic, dlqTopic},
			Log:    slog.New(slog.NewTextHandler(klog, nil)),
		}
		if err := s.startKafka(); err != nil {
			t.Fatal(err)
		}
		s.brokers = []string{fmt.Sprintf("127.0.0.1:%d", kport)}
	} else {
		nodes := 1
		if kind == "apache3" {
			nodes = 3
		}
		bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Minute)
		k, err := devstack.StartBroker(bctx, devstack.BrokerOptions{Kind: devstack.KindApache, Nodes: nodes, Dir: filepath.Join(dir, "kafka"),
			Kafka: devstack.KafkaOptions{Topics: []string{ordersTopic, acksTopic, dlqTopic}, Log: slog.New(slog.NewTextHandler(klog, nil))}})
		bcancel()
		if err != nil {
			t.Fatal(err)
		}
		s.kafka, s.apache, s.brokers = k, k.(*devstack.ApacheKafka), k.Brokers()
		t.Cleanup(func() {
			if t.Failed() {
				if path, err := s.apache.SaveLogs(caseName(t)); err == nil {
					t.Logf("broker logs kept in %s", path)
				}
			}
		})
	}
	t.Cleanup(s.stopKafka)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api, worker := binaries(t)
	// Fast: fsync and synchronous_commit off. Restarts here are clean (fast
	// shutdown) or crashes of our processes, never of the machine, so no
	// committed data can be lost to it. Restart keeps the port.
	s.ds, err = devstack.StartStack(ctx, devstack.StackOptions{
		Dir: dir, Postgres: pgOptions(opts),
		Broker: devstack.External(s.brokers), // the case owns it: stopKafka, startKafka
		APIBin: api, WorkerBin: worker,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ds.Close() })
	t.Cleanup(s.dumpLogsOnFailure)
	s.pg, s.dbURL = s.ds.Postgres, s.ds.DB.Owner
	if s.db, err = pgxpool.New(ctx, s.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.db.Close)

	if opts.toxiproxy {
		pgAddr := fmt.Sprintf("127.0.0.1:%d", s.pg.Port())
		srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
		s.proxy = toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", pgAddr)
		if err := srv.Collection.Add(s.proxy, true); err != nil {
			t.Fatalf("start toxiproxy: %v", err)
		}
		t.Cleanup(func() { srv.Collection.Clear() })
		// The processes (not the checker) reach PostgreSQL through it.
		via := func(u string) string { return strings.Replace(u, pgAddr, s.proxy.Listen, 1) }
		s.ds.DB = devstack.DatabaseURLs{Owner: via(s.ds.DB.Owner), API: via(s.ds.DB.API), Worker: via(s.ds.DB.Worker)}
	}
	return s
}

// pgOptions are the suite's PostgreSQL settings: fsync, synchronous_commit
// and full_page_writes off (the suite kills processes, not machines), with
// synchronous_commit on again for a case that kills PostgreSQL.
func pgOptions(opts stackOptions) devstack.PostgresOptions {
	o := devstack.PostgresOptions{Fast: true}
	if opts.durableCommits {
		o.Settings = map[string]string{"synchronous_commit": "on"}
	}
	return o
}

// startKafka starts the broker again on its ports and data: kfake on its
// port and data directory (retrying while the port is not free yet), or
// every stopped node of an Apache Kafka cluster, waiting until it serves.
func (s *stack) startKafka() error {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.apache != nil {
		for _, id := range s.apache.NodeIDs() {
			if !s.apache.Running(id) {
				if err := s.apache.Start(id); err != nil {
					return err
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return s.apache.WaitReady(ctx)
	}
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		var k devstack.Broker
		if k, err = devstack.StartBroker(context.Background(), devstack.BrokerOptions{Kind: devstack.KindKfake, Kafka: s.kafkaOpts}); err == nil {
			s.kafka = k
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopKafka stops the broker: kfake closes, saving its state to its data
// directory; an Apache Kafka cluster's nodes shut down gracefully (SIGTERM).
// At the end of a case (a cleanup) the cluster is closed for good.
func (s *stack) stopKafka() {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.apache != nil {
		if s.t.Context().Err() != nil { // the case is over
			s.apache.Close()
			return
		}
		for _, id := range s.apache.NodeIDs() {
			if s.apache.Running(id) {
				if err := s.apache.Stop(id, 30*time.Second); err != nil {
					s.t.Logf("stop kafka node %d: %v", id, err)
				}
			}
		}
		return
	}
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
}

// apiConfig and workerConfig are the configurations every process of the
// stack gets, from the launcher's (the stack's database, broker, topics).
func (s *stack) apiConfig() config.API {
	c := s.ds.APIConfig()
	c.AckTimeout, c.RecoveryDelay, c.StartupTimeout, c.LogLevel = s.ackTimeout, time.Second, 2*time.Minute, logLevel
	// The suite is about delivery, not about who may do what: no tokens.
	c.Auth.Disabled = true
	return c
}

func (s *stack) workerConfig() config.Worker {
	c := s.ds.WorkerConfig()
	c.Group, c.StartupTimeout, c.LogLevel = s.group, 2*time.Minute, workerLogLevel
	return c
}

// proc is an API or worker process that can be killed and started again.
// Its output, across restarts, goes to <name>.log in the stack's directory.
type proc struct {
	s       *stack
	name    string
	env     []string // extra environment of this process; start uses it as it is then
	logPath string
	api     bool
	port    string // the API's HTTP port (the worker's health port), kept across restarts

	mu     sync.Mutex
	svc    *devstack.Service
	starts int
}

func (s *stack) track(svc *devstack.Service, api bool, env []string) *proc {
	u, _ := url.Parse(svc.URL())
	p := &proc{s: s, name: svc.Name(), api: api, env: env, logPath: svc.LogPath(), port: u.Port(), svc: svc, starts: svc.Starts()}
	s.pmu.Lock()
	s.procs = append(s.procs, p)
	s.pmu.Unlock()
	s.t.Cleanup(func() { p.kill() })
	return p
}

// startAPI starts an API instance and waits until it is ready.
func (s *stack) startAPI(name string, env ...string) *proc {
	s.t.Helper()
	svc, err := s.ds.StartAPI(s.t.Context(), name, s.apiConfig(), append(s.env, env...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.track(svc, true, env)
}

// startWorker starts a worker and waits until its /readyz answers.
func (s *stack) startWorker(name string, env ...string) *proc {
	s.t.Helper()
	svc, err := s.ds.StartWorker(s.t.Context(), name, s.workerConfig(), append(s.env, env...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.track(svc, false, env)
}

// base is the API's URL.
func (p *proc) base() string { return "http://127.0.0.1:" + p.port }

// start starts the process again, with p.env as it is now, and waits until
// its /readyz answers 200. It fails the test if the process cannot start.
func (p *proc) start() {
	t := p.s.t
	t.Helper()
	extra := append(append([]string(nil), p.s.env...), p.env...)
	if p.api {
		c := p.s.apiConfig()
		c.Port = p.port
		p.svc.SetEnv(devstack.APIEnv(c, extra...))
	} else {
		c := p.s.workerConfig()
		c.HealthPort = p.port
		p.svc.SetEnv(devstack.WorkerEnv(c, extra...))
	}
	if err := p.svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.starts = p.svc.Starts()
	p.mu.Unlock()
}

func (p *proc) current() *devstack.Process { return p.svc.Process() }

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.svc.Kill() }

// term sends SIGTERM and waits up to timeout for a clean exit; it returns
// the exit error (nil for status 0) or an error if it had to be killed.
func (p *proc) term(timeout time.Duration) error { return p.svc.Stop(timeout) }

// done is closed when the current incarnation exits.
func (p *proc) done() <-chan struct{} { return p.svc.Done() }

// dumpLogsOnFailure prints the tail of every log of a failed case.
func (s *stack) dumpLogsOnFailure() {
	if !s.t.Failed() && os.Getenv("TEST_LOG") == "" {
		return
	}
	s.ds.DumpLogs(s.t.Logf)
	s.t.Logf("--- kafka.log (tail) ---\n%s", tailFile(filepath.Join(s.dir, "kafka.log"), 12<<10))
}

func tailFile(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, int64(len(b))-n):])
}

// addToxic adds a toxic to the PostgreSQL proxy, such as
// {"name": "lat", "type": "latency", "attributes": {"latency": 200}}.
func (s *stack) addToxic(spec string) {
	s.t.Helper()
	if _, err := s.proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		s.t.Fatalf("add toxic %s: %v", spec, err)
	}
}

func (s *stack) removeToxic(name string) {
	s.t.Helper()
	if err := s.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		s.t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// gqlClient speaks GraphQL over HTTP to the API instances of a stack
// (gqltest), only to 127.0.0.1.
type gqlClient struct{ c *gqltest.Client }

func newGQLClient(timeout time.Duration) *gqlClient {
	c := gqltest.New(timeout)
	c.LoopbackOnly = true
	return &gqlClient{c: c}
}

type gqlError = gqltest.Error

// gqlResponse is a GraphQL response; code is "NO_CODE" for an error
// without extensions.code.
type gqlResponse struct{ gqltest.Response }

func (r *gqlResponse) code() string          { return r.Code() }
func (r *gqlResponse) ext(key string) string { return r.Ext(key) }

// errTransport marks a request that got no GraphQL answer.
var errTransport = gqltest.ErrTransport

// do posts a GraphQL request to base, which must be on 127.0.0.1.
func (c *gqlClient) do(ctx context.Context, base, query string, vars map[string]any) (*gqlResponse, error) {
	r, err := c.c.Do(ctx, base, query, vars)
	if err != nil {
		return nil, err
	}
	return &gqlResponse{*r}, nil
}

// GraphQL documents.
const (
	orderFields   = `id externalId userId status eventId total items { name quantity price }`
	createMut     = `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { ` + orderFields + ` } } }`
	updateMut     = `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ` + orderFields + ` } } }`
	cancelMut     = `mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { ` + orderFields + ` } } }`
	byExternalQry = `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { ` + orderFields + ` } }`
)

type gqlOrder = gqltest.Order

// payload decodes data[field] of a successful response: createOrder,
// updateOrder and cancelOrder all have an order; createOrder has created.
type payload struct {
	Created bool      `json:"created"`
	Order   *gqlOrder `json:"order"`
}

func (r *gqlResponse) payload(field string) (payload, error) {
	var p payload
	raw, ok := r.Data[field]
	if !ok || string(raw) == "null" {
		return p, fmt.Errorf("no %s in the response", field)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("decode %s: %v", field, err)
	}
	if p.Order == nil {
		return p, fmt.Errorf("%s without an order", field)
	}
	return p, nil
}

// warmUp creates an order through api until one succeeds with DONE, which
// shows the whole pipeline works (the worker has its partitions).
func (s *stack) warmUp(api *proc) {
	s.t.Helper()
	c := newGQLClient(30 * time.Second)
	user := "00000000-0000-4000-8000-000000000001"
	deadline := time.Now().Add(90 * time.Second)
	for {
		// The same create again is idempotent: it answers once applied.
		in := map[string]any{"externalId": "warmup-" + api.name + "-" + strconv.Itoa(api.starts), "userId": user,
			"items": []any{map[string]any{"name": "warm", "quantity": 1, "price": "1.00"}}}
		r, err := c.do(context.Background(), api.base(), createMut, map[string]any{"in": in})
		if err == nil && r.code() == "" {
			return
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprint(err)
			if r != nil {
				msg = fmt.Sprint(r.Errors)
			}
			s.t.Fatalf("warm-up through %s: no successful create within 90 s: %s", api.name, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitGroupStable waits until the workers' consumer group is stable with
// members members that hold every partition of the orders topic between
// them (devstack.WaitGroupStable), and returns how long that took.
func (s *stack) waitGroupStable(members int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	_, err := s.ds.WaitGroupStable(ctx, s.group, members)
	return time.Since(start), err
}

// redeliveries counts the messages of events the workers had applied
// already ("duplicate":true in their debug log): Kafka redeliveries after a
// crash or rebalance, republishes by the API's recovery loop, and the
// re-dispatch of an idempotent create. Each was answered from the stored
// outcome, without applying anything: the applied_event_id guard at work.
func (s *stack) redeliveries() string {
	if workerLogLevel != "debug" {
		return ""
	}
	n := 0
	s.pmu.Lock()
	defer s.pmu.Unlock()
	seen := map[string]bool{}
	for _, p := range s.procs {
		if p.api || seen[p.logPath] {
			continue
		}
		seen[p.logPath] = true
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		n += bytes.Count(b, []byte(`"duplicate":true`))
	}
	return fmt.Sprintf(", duplicate deliveries %d", n)
}
