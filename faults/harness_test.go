package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/testbin"
	"github.com/orderstream/orderstream/migrations"
)

// Topics every stack creates, with devstack.DefaultPartitions partitions.
const (
	ordersTopic = "orders"
	acksTopic   = "order-acks"
	dlqTopic    = "orders-dlq"
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

// stack is one OrderStream with infrastructure of its own: a PostgreSQL
// cluster and a kfake broker that the case may restart without disturbing
// other tests, optionally a Toxiproxy in front of PostgreSQL, and the API
// and worker processes.
type stack struct {
	t    *testing.T
	name string
	dir  string // removed at the end unless the case failed

	pg     *devstack.Postgres
	dbURL  string        // direct, for the checker
	appURL string        // the owner (migrations) for the processes: dbURL or through the proxy
	db     *pgxpool.Pool // the checker's pool on dbURL
	proxy  *toxiproxy.Proxy
	// apiURL and workerURL are appURL as the API's and the worker's login
	// roles, which row-level security binds, as in production.
	apiURL, workerURL string

	kafkaOpts devstack.KafkaOptions
	kmu       sync.Mutex
	kafka     *devstack.Kafka
	brokers   string

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
}

func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "orderstream-faults-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its data directory below this one.
	if err := os.Chmod(dir, 0o755); err != nil {
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
	t.Cleanup(s.dumpLogsOnFailure)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.Mkdir(filepath.Join(dir, "pg"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The port is fixed for the life of the stack, so that the server can
	// be restarted on it. Fast: fsync and synchronous_commit off. Restarts
	// here are clean (fast shutdown) or crashes of our processes, never of
	// the machine, so no committed data can be lost to it.
	var pgPort int
	for attempt := 1; ; attempt++ {
		if pgPort, err = devstack.FreePort(); err != nil {
			t.Fatal(err)
		}
		s.pg, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{
			DataDir: filepath.Join(dir, "pg", "data"), Port: pgPort, Fast: true,
		})
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.pg.Stop() })
	if err := s.pg.CreateDatabase(ctx, "orderstream", ""); err != nil {
		t.Fatal(err)
	}
	s.dbURL = s.pg.URL("orderstream")
	s.appURL = s.dbURL
	// The logins need the roles the migrations create.
	if err := postgres.Migrate(s.dbURL); err != nil {
		t.Fatal(err)
	}
	if _, _, err := devstack.SetupLogins(ctx, s.dbURL, migrations.APIRole, migrations.WorkerRole); err != nil {
		t.Fatal(err)
	}
	if s.db, err = pgxpool.New(ctx, s.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.db.Close)

	if opts.toxiproxy {
		srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
		s.proxy = toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", pgPort))
		if err := srv.Collection.Add(s.proxy, true); err != nil {
			t.Fatalf("start toxiproxy: %v", err)
		}
		t.Cleanup(func() { srv.Collection.Clear() })
		s.appURL = strings.Replace(s.dbURL, fmt.Sprintf("127.0.0.1:%d", pgPort), s.proxy.Listen, 1)
	}
	if s.apiURL, err = devstack.WithUser(s.appURL, devstack.APILogin); err != nil {
		t.Fatal(err)
	}
	if s.workerURL, err = devstack.WithUser(s.appURL, devstack.WorkerLogin); err != nil {
		t.Fatal(err)
	}

	kport, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	klog, err := os.OpenFile(filepath.Join(dir, "kafka.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { klog.Close() })
	s.kafkaOpts = devstack.KafkaOptions{
		Port: kport, DataDir: filepath.Join(dir, "kafka"),
		Topics: []string{ordersTopic, acksTopic, dlqTopic},
		Log:    slog.New(slog.NewTextHandler(klog, nil)),
	}
	if err := s.startKafka(); err != nil {
		t.Fatal(err)
	}
	s.brokers = fmt.Sprintf("127.0.0.1:%d", kport)
	t.Cleanup(s.stopKafka)
	return s
}

// startKafka starts the broker on its port and data directory, retrying
// for a while if the port is not free yet.
func (s *stack) startKafka() error {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		var k *devstack.Kafka
		if k, err = devstack.StartKafka(s.kafkaOpts); err == nil {
			s.kafka = k
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopKafka closes the broker, which saves its state to its data directory.
func (s *stack) stopKafka() {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
}

// processEnv is the environment every process gets.
func (s *stack) processEnv() []string {
	return append([]string{
		"MIGRATE_DATABASE_URL=" + s.appURL,
		"KAFKA_BROKERS=" + s.brokers,
		"KAFKA_ORDERS_TOPIC=" + ordersTopic,
		"KAFKA_ACKS_TOPIC=" + acksTopic,
		"KAFKA_DLQ_TOPIC=" + dlqTopic,
		"KAFKA_GROUP=" + s.group,
		"ACK_TIMEOUT=" + s.ackTimeout.String(),
		"RECOVERY_DELAY=1s",
		"STARTUP_TIMEOUT=2m",
		"LOG_LEVEL=" + logLevel,
		// The suite is about delivery, not about who may do what: no tokens.
		"AUTH_DISABLED=true",
	}, s.env...)
}

// proc is an API or worker process that can be killed and started again.
// Its output, across restarts, goes to <name>.log in the stack's directory.
type proc struct {
	s       *stack
	name    string
	bin     string
	env     []string
	logPath string
	api     bool
	port    string // the API's HTTP port, kept across restarts

	mu     sync.Mutex
	p      *devstack.Process
	starts int
}

func (s *stack) newProc(name, bin string, api bool, env ...string) *proc {
	p := &proc{s: s, name: name, bin: bin, api: api, env: env, logPath: filepath.Join(s.dir, name+".log")}
	s.pmu.Lock()
	s.procs = append(s.procs, p)
	s.pmu.Unlock()
	s.t.Cleanup(func() { p.kill() })
	return p
}

// startAPI starts an API instance and waits until it is ready.
func (s *stack) startAPI(name string, env ...string) *proc {
	s.t.Helper()
	bin, _ := binaries(s.t)
	p := s.newProc(name, bin, true, env...)
	for attempt := 1; ; attempt++ {
		port, err := devstack.FreePort()
		if err != nil {
			s.t.Fatal(err)
		}
		p.port = strconv.Itoa(port)
		if err = p.startNoWait(); err == nil {
			err = p.waitReady(60 * time.Second)
		}
		if err == nil {
			return p
		}
		// Another process may have taken the port in the meantime.
		if attempt == 3 || !strings.Contains(tailFile(p.logPath, 2048), "address already in use") {
			s.t.Fatal(err)
		}
		p.kill()
	}
}

// startWorker starts a worker and waits until its /readyz answers.
func (s *stack) startWorker(name string, env ...string) *proc {
	s.t.Helper()
	_, bin := binaries(s.t)
	p := s.newProc(name, bin, false, env...)
	p.start()
	return p
}

// base is the API's URL.
func (p *proc) base() string { return "http://127.0.0.1:" + p.port }

// start starts the process (again) and waits until its /readyz answers 200
// (the worker's is on HEALTH_PORT). It fails the test if the process cannot
// start.
func (p *proc) start() {
	t := p.s.t
	t.Helper()
	if err := p.startNoWait(); err != nil {
		t.Fatal(err)
	}
	if err := p.waitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) startNoWait() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil && !p.p.Exited() {
		return fmt.Errorf("%s is running already", p.name)
	}
	env := append(os.Environ(), p.s.processEnv()...)
	if p.api {
		env = append(env, "DATABASE_URL="+p.s.apiURL)
	} else {
		env = append(env, "DATABASE_URL="+p.s.workerURL)
	}
	env = append(env, p.env...)
	var healthPort string
	if p.api {
		env = append(env, "PORT="+p.port)
	} else {
		env = append(env, "LOG_LEVEL="+workerLogLevel)
		port, err := devstack.FreePort()
		if err != nil {
			return err
		}
		healthPort = strconv.Itoa(port)
		env = append(env, "HEALTH_PORT="+healthPort)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "===== %s start #%d at %s =====\n", p.name, p.starts, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(p.bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	proc, err := devstack.StartProcess(cmd, syscall.SIGKILL)
	if err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() { <-proc.Done(); f.Close() }()
	p.p = proc
	if !p.api {
		p.port = healthPort
	}
	return nil
}

// waitReady polls the readiness endpoint until it answers 200.
func (p *proc) waitReady(timeout time.Duration) error {
	p.mu.Lock()
	proc := p.p
	p.mu.Unlock()
	url := p.base() + "/readyz"
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if proc.Exited() {
			return fmt.Errorf("%s exited during start-up: %v", p.name, proc.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", p.name, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) current() *devstack.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if cur := p.current(); cur != nil {
		cur.Signal(syscall.SIGKILL)
		<-cur.Done()
	}
}

// term sends SIGTERM and waits up to timeout for a clean exit; it returns
// the exit error (nil for status 0) or an error if it had to be killed.
func (p *proc) term(timeout time.Duration) error {
	if cur := p.current(); cur != nil {
		return cur.Stop(syscall.SIGTERM, timeout)
	}
	return nil
}

// done is closed when the current incarnation exits.
func (p *proc) done() <-chan struct{} { return p.current().Done() }

// dumpLogsOnFailure prints the tail of every log of a failed case.
func (s *stack) dumpLogsOnFailure() {
	if !s.t.Failed() && os.Getenv("TEST_LOG") == "" {
		return
	}
	files := []string{filepath.Join(s.dir, "pg", "postgres.log"), filepath.Join(s.dir, "kafka.log")}
	s.pmu.Lock()
	for _, p := range s.procs {
		files = append(files, p.logPath)
	}
	s.pmu.Unlock()
	for _, f := range files {
		s.t.Logf("--- %s (tail) ---\n%s", filepath.Base(f), tailFile(f, 12<<10))
	}
}

func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	from := max(0, fi.Size()-n)
	b, _ := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
	return string(b)
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

// gqlClient speaks GraphQL over HTTP to the API instances of a stack.
type gqlClient struct{ hc *http.Client }

func newGQLClient(timeout time.Duration) *gqlClient {
	return &gqlClient{hc: &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
	}}}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
	Status int                        `json:"-"`
}

func (r *gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	if c == "" {
		return "NO_CODE"
	}
	return c
}

func (r *gqlResponse) ext(key string) string {
	if len(r.Errors) == 0 {
		return ""
	}
	switch v := r.Errors[0].Extensions[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// errTransport marks a request that got no GraphQL answer.
var errTransport = errors.New("transport")

// do posts a GraphQL request to base, which must be on 127.0.0.1.
func (c *gqlClient) do(ctx context.Context, base, query string, vars map[string]any) (*gqlResponse, error) {
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		return nil, fmt.Errorf("refusing to send load to %s: only 127.0.0.1", base)
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errTransport, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", errTransport, err)
	}
	var r gqlResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, undecodable body %.200q", errTransport, resp.StatusCode, b)
	}
	r.Status = resp.StatusCode
	return &r, nil
}

// GraphQL documents.
const (
	orderFields   = `id externalId userId status eventId total items { name quantity price }`
	createMut     = `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { ` + orderFields + ` } } }`
	updateMut     = `mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ` + orderFields + ` } } }`
	cancelMut     = `mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { ` + orderFields + ` } } }`
	byExternalQry = `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { ` + orderFields + ` } }`
)

type gqlOrder struct {
	ID         string `json:"id"`
	ExternalID string `json:"externalId"`
	UserID     string `json:"userId"`
	Status     string `json:"status"`
	EventID    int    `json:"eventId"`
	Total      string `json:"total"`
	Items      []struct {
		Name     string `json:"name"`
		Quantity int    `json:"quantity"`
		Price    string `json:"price"`
	} `json:"items"`
}

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
// them, and returns how long that took.
func (s *stack) waitGroupStable(members int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	var last string
	for time.Since(start) < timeout {
		last = s.describeGroup(cfg, members)
		if last == "" {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("consumer group %s not stable with %d members holding all partitions after %s: %s", s.group, members, timeout, last)
}

// describeGroup returns "" when the group is as wanted, else what it is.
func (s *stack) describeGroup(cfg *sarama.Config, members int) string {
	admin, err := sarama.NewClusterAdmin([]string{s.brokers}, cfg)
	if err != nil {
		return err.Error()
	}
	defer admin.Close()
	groups, err := admin.DescribeConsumerGroups([]string{s.group})
	if err != nil || len(groups) != 1 {
		return fmt.Sprintf("describe: %v", err)
	}
	g := groups[0]
	parts := 0
	for _, m := range g.Members {
		a, err := m.GetMemberAssignment()
		if err != nil || a == nil {
			return fmt.Sprintf("member %s: no assignment (%v)", m.ClientHost, err)
		}
		parts += len(a.Topics[ordersTopic])
	}
	if g.State != "Stable" || len(g.Members) != members || parts != int(devstack.DefaultPartitions) {
		return fmt.Sprintf("state %s, %d members, %d partitions assigned", g.State, len(g.Members), parts)
	}
	return ""
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
	for _, p := range s.procs {
		if p.api {
			continue
		}
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		n += bytes.Count(b, []byte(`"duplicate":true`))
	}
	return fmt.Sprintf(", duplicate deliveries %d", n)
}
