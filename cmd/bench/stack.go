package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	appconfig "github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/procfs"
	"github.com/orderstream/orderstream/migrations"
)

const (
	startTimeout     = 2 * time.Minute
	kafkaStopTimeout = 10 * time.Second
	// kafkaChildArg makes this binary serve the kfake broker instead of
	// benchmarking: the broker runs in a process of its own so that its CPU
	// is counted apart from the load generator's.
	kafkaChildArg = "-internal-kafka-broker"
)

// Names of the measured processes, in report order.
const (
	procAPI    = "API"
	procWorker = "worker"
	procSeed   = "seed design"
	procKafka  = "Kafka (kfake)"
	// procKafkaApache is the JVM of a one-node Apache Kafka (-kafka apache).
	procKafkaApache = "Kafka (Apache, JVM)"
	procPostgres    = "PostgreSQL"
	procLoad        = "load generator"
	// procPostGraphile is the lookup baseline's server (postgraphile.go).
	procPostGraphile = "PostGraphile"
)

var procOrder = []string{procAPI, procWorker, procSeed, procKafka, procKafkaApache, procPostgres, procPostGraphile, procLoad}

// watched is a process whose CPU is measured.
type watched struct {
	name string
	pid  int
	tree bool // add its live children (the postmaster's backends)
}

// stack is the system under test: what we started (on the stack launcher,
// devstack.Stack) and what we were given.
type stack struct {
	log *slog.Logger
	ds  *devstack.Stack // nil with -api

	dbURL       string
	apiBase     string   // the first API instance: http://127.0.0.1:PORT
	apiBases    []string // every API instance, apiBase first
	workerBases []string // the health endpoints of the workers

	ownPG bool              // we started PostgreSQL: its database is ours to reset
	kafka *devstack.Process // the kfake child, when we started it

	procs      []watched
	callgrind  bool     // the API and the worker run under callgrind (-callgrind)
	notes      []string // facts about the set-up for the report
	brokerName string   // the broker, for the chart: kfake, Apache Kafka 4.4.0, external

	stopping atomic.Bool
}

// startStack starts what cfg does not point at. It always returns a stack,
// which the caller must stop even when err is not nil. fail is called when a
// child exits on its own while the benchmark runs.
func startStack(ctx context.Context, cfg config, log *slog.Logger, fail context.CancelCauseFunc) (*stack, error) {
	st := &stack{log: log}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	if cfg.apiURL != "" {
		st.apiBase = strings.TrimSuffix(cfg.apiURL, "/")
		st.apiBases = []string{st.apiBase}
		st.dbURL = os.Getenv("DATABASE_URL")
		if st.dbURL == "" {
			return st, errors.New("-api needs DATABASE_URL (the API's database) for the database floor and the lookup table")
		}
		if err := checkDatabaseURL(st.dbURL); err != nil {
			return st, err
		}
		st.brokerName = "of the API given with -api"
		st.notes = append(st.notes, "API given with -api (not started by the bench); DATABASE_URL from the environment")
		if cfg.apiPID > 0 {
			st.procs = append(st.procs, watched{name: procAPI, pid: cfg.apiPID})
		}
		if cfg.workerPID > 0 {
			st.procs = append(st.procs, watched{name: procWorker, pid: cfg.workerPID})
		}
	} else {
		if err := st.startInfra(ctx, cfg); err != nil {
			return st, err
		}
		if err := st.startServices(ctx, cfg, fail); err != nil {
			return st, err
		}
	}

	if pid, err := postmasterPID(ctx, st.dbURL); err != nil {
		log.Warn("PostgreSQL CPU is not measured", "err", err)
		st.notes = append(st.notes, "PostgreSQL CPU not measured: "+err.Error())
	} else {
		st.procs = append(st.procs, watched{name: procPostgres, pid: pid, tree: true})
	}
	st.procs = append(st.procs, watched{name: procLoad, pid: os.Getpid()})
	return st, nil
}

// startInfra starts PostgreSQL and the broker on the stack launcher unless
// DATABASE_URL and KAFKA_BROKERS say where they are.
func (st *stack) startInfra(ctx context.Context, cfg config) error {
	opts := devstack.StackOptions{APIBin: cfg.apiBin, WorkerBin: cfg.workerBin, Log: st.log,
		Output: os.Stderr, DeathSignal: syscall.SIGTERM, ProcessGroup: true}
	if cfg.callgrindDir != "" {
		if err := os.MkdirAll(cfg.callgrindDir, 0o755); err != nil {
			return err
		}
		opts.Wrap = callgrindWrap(cfg.callgrindDir)
		st.callgrind = true
		st.notes = append(st.notes, fmt.Sprintf("Instruction counts (-callgrind): the API, the worker and the seed design ran under valgrind's callgrind with GODEBUG=asyncpreemptoff=1, tens of times slower than without it: their ops/s, latencies and CPU seconds are callgrind's, not the product's. The counters were zeroed as each window started and dumped as it ended (callgrind_control, dumps in %s); instructions per operation divide a window's count by the operations completed in it.", cfg.callgrindDir))
	}
	for name, path := range map[string]string{"API": cfg.apiBin, "worker": cfg.workerBin} {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			return fmt.Errorf("%s binary %s not found: run 'make build' or pass its path", name, path)
		}
	}
	dir, err := os.MkdirTemp(cfg.tmpDir, "orderstream-bench-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	opts.Dir = dir
	if u := os.Getenv("DATABASE_URL"); u != "" {
		if err := checkDatabaseURL(u); err != nil {
			return err
		}
		// As the launcher does with its own server: migrate, then the logins.
		urls := devstack.DatabaseURLs{Owner: u, API: u, Worker: u}
		if cfg.rls {
			if err := postgres.Migrate(u); err != nil {
				return err
			}
			if urls.API, urls.Worker, err = devstack.SetupLogins(ctx, u, migrations.APIRole, migrations.WorkerRole); err != nil {
				return fmt.Errorf("create the database logins (-no-rls runs without): %w", err)
			}
		}
		opts.Database = &urls
		st.notes = append(st.notes, "PostgreSQL from DATABASE_URL (not started by the bench)")
	} else {
		// Normal durability, not the tests' Fast mode: the floor must pay
		// for real WAL flushes, as production does. The floor at level N
		// holds N connections besides the API's and the worker's pools; the
		// default max_connections (100) is too small.
		maxConns := max(300, cfg.maxLevel()+cfg.lookupLevel+100+cfg.apis*apiPoolSize+cfg.workers*workerPoolSize)
		if cfg.phases.has(selSeed) {
			maxConns += apiPoolSize + workerPoolSize // the seed design's pools
		}
		opts.Postgres = devstack.PostgresOptions{Settings: map[string]string{"max_connections": strconv.Itoa(maxConns)}}
		st.ownPG = true
		st.notes = append(st.notes, fmt.Sprintf(
			"PostgreSQL started by the bench with its default settings and normal durability (NOT the tests' fast mode: fsync, synchronous_commit and full_page_writes stay on), except max_connections = %d (server command line) so that the floor's pool fits; data in %s (server log: pg/postgres.log there)",
			maxConns, dir))
	}
	addrs, err := brokersFromEnv()
	if err != nil {
		return err
	}
	if addrs != nil {
		opts.Broker = devstack.External(addrs)
		st.brokerName = "external (KAFKA_BROKERS)"
		st.notes = append(st.notes, "Kafka from KAFKA_BROKERS (not started by the bench)")
	} else {
		if err := st.startBroker(ctx, cfg, &opts); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	st.ds, err = devstack.StartStack(ctx, opts)
	if err != nil {
		opts.Broker.Close()
		os.RemoveAll(dir)
		return err
	}
	st.dbURL = st.ds.DB.Owner
	if !cfg.rls {
		// -no-rls: both connect as the superuser, which row-level
		// security does not bind.
		st.ds.DB.API, st.ds.DB.Worker = st.ds.DB.Owner, st.ds.DB.Owner
	}
	return nil
}

// startBroker starts the broker -kafka asks for and gives it to opts, with
// its partition count, which the services are told.
func (st *stack) startBroker(ctx context.Context, cfg config, opts *devstack.StackOptions) error {
	opts.Partitions = int32(cfg.partitions)
	switch cfg.kafkaKind {
	case devstack.KindApache:
		b, err := devstack.StartBroker(ctx, devstack.BrokerOptions{Kind: devstack.KindApache, Nodes: 1, FullJIT: cfg.apacheJIT == jitC1C2,
			Kafka: devstack.KafkaOptions{Partitions: opts.Partitions, Log: st.log}})
		if err != nil {
			return err
		}
		opts.Broker = b
		a, ok := b.(*devstack.ApacheKafka)
		version := "?"
		if ok {
			version = a.Version()
			// The JVM and any child it starts.
			st.procs = append(st.procs, watched{name: procKafkaApache, pid: a.PID(a.NodeIDs()[0]), tree: true})
		}
		st.brokerName = "Apache Kafka " + version + " (1 node)"
		st.notes = append(st.notes, fmt.Sprintf("Kafka: Apache Kafka %s, one KRaft node (broker and controller) in a JVM started by the bench (internal/devstack, JIT compilers %s, heap %d MB, replication factor 1), %d partitions; its CPU column is the JVM's process tree", version, jitName(cfg.apacheJIT), devstack.MaxHeapMB, cfg.partitions))
	default:
		k, err := startKafkaChild(ctx, cfg.partitions)
		if err != nil {
			return err
		}
		opts.Broker, st.kafka = k, k.proc
		st.procs = append(st.procs, watched{name: procKafka, pid: k.proc.Pid()})
		st.brokerName = "kfake"
		st.notes = append(st.notes, fmt.Sprintf("Kafka: kfake (franz-go's in-memory Kafka-protocol broker), %d partitions, in a child process of the bench", cfg.partitions))
	}
	return nil
}

// kafkaChild is the kfake broker in a child process: this binary with
// kafkaChildArg, which prints the broker address on its stdout.
type kafkaChild struct {
	proc    *devstack.Process
	brokers []string
}

func (k *kafkaChild) Brokers() []string { return k.brokers }

func (k *kafkaChild) Close() {
	if err := k.proc.Stop(syscall.SIGTERM, kafkaStopTimeout); err != nil {
		slog.Warn("stop Kafka", "err", err)
	}
}

func startKafkaChild(ctx context.Context, partitions int) (*kafkaChild, error) {
	proc, brokers, err := startChild(ctx, "KAFKA_BROKERS=", nil, nil, kafkaStopTimeout, kafkaChildArg, strconv.Itoa(partitions))
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	return &kafkaChild{proc: proc, brokers: strings.Split(brokers, ",")}, nil
}

// startChild starts this binary with args (a child mode of main) and the
// extra environment env, and waits until the child prints its first line,
// "<prefix><value>": what it serves on. The child leads a process group of
// its own and gets SIGTERM when the bench dies.
//
// wrap, when set, runs the child under that command (callgrindWrap).
func startChild(ctx context.Context, prefix string, env, wrap []string, stopTimeout time.Duration, args ...string) (*devstack.Process, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	cmd := exec.Command(self, args...)
	if len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(append(slices.Clone(wrap[1:]), self), args...)...)
		env = append(slices.Clone(env), callgrindEnv...)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc, err := devstack.StartProcess(cmd, syscall.SIGTERM)
	w.Close()
	if err != nil {
		return nil, "", err
	}
	deadline, _ := ctx.Deadline()
	r.SetReadDeadline(deadline) //nolint:errcheck // a pipe supports deadlines; without one the child's exit ends the read
	line, err := bufio.NewReader(r).ReadString('\n')
	value, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if err != nil || !ok || value == "" {
		proc.Stop(syscall.SIGTERM, stopTimeout) //nolint:errcheck // failing anyway
		return nil, "", fmt.Errorf("no %s line from the child (read %q: %v)", strings.TrimSuffix(prefix, "="), line, err)
	}
	return proc, value, nil
}

// brokersFromEnv returns the loopback brokers of KAFKA_BROKERS, or nil
// when it is not set.
func brokersFromEnv() ([]string, error) {
	b := os.Getenv("KAFKA_BROKERS")
	if b == "" {
		return nil, nil
	}
	var addrs []string
	for _, hp := range strings.Split(b, ",") {
		host, _, err := net.SplitHostPort(strings.TrimSpace(hp))
		if err != nil {
			return nil, fmt.Errorf("KAFKA_BROKERS: %w", err)
		}
		if err := checkLoopbackHost(host); err != nil {
			return nil, fmt.Errorf("KAFKA_BROKERS: %w", err)
		}
		addrs = append(addrs, strings.TrimSpace(hp))
	}
	return addrs, nil
}

// serveKafka is the kafkaChildArg mode: a kfake broker until SIGTERM,
// SIGINT or the death of the parent.
func serveKafka(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	partitions := int(devstack.DefaultPartitions)
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench %s: bad partition count %q\n", kafkaChildArg, args[0])
			return 2
		}
		partitions = n
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k, err := devstack.StartKafka(devstack.KafkaOptions{Partitions: int32(partitions), Log: log})
	if err != nil {
		log.Error("start kafka", "err", err)
		return 1
	}
	defer k.Close()
	fmt.Printf("KAFKA_BROKERS=%s\n", strings.Join(k.Brokers(), ","))
	<-ctx.Done()
	return 0
}

// Default pool sizes (DB_MAX_CONNS) of the API and the worker: what each
// process may hold of max_connections.
var (
	apiPoolSize    = appconfig.DefaultAPI().DBMaxConns
	workerPoolSize = appconfig.DefaultWorker().DBMaxConns
)

// startServices starts the workers and the API instances from their config
// structs (this process's environment, with the stack laid over it) and
// waits until every API is ready and the workers' consumer group is stable.
func (st *stack) startServices(ctx context.Context, cfg config, fail context.CancelCauseFunc) error {
	apiCfg, workerCfg, err := st.ds.ConfigsFrom(appconfig.OSEnv)
	if err != nil {
		return err
	}
	apiCfg.LogLevel, workerCfg.LogLevel = "warn", "warn"
	// The bench sends no bearer token: the API runs without authentication
	// (AUTH_DISABLED, meant for tests and benchmarks), whatever AUTH_* this
	// process was given, since a secret or JWKS would switch it back on.
	apiCfg.Auth = appconfig.DefaultAPI().Auth
	apiCfg.Auth.Disabled = true
	apiCfg.Pprof = cfg.cpuProfile != ""          // /debug/pprof/ on the API's port
	workerCfg.Pprof = cfg.cpuProfileWorker != "" // and on the worker's health endpoint
	if cfg.rls {
		st.notes = append(st.notes, fmt.Sprintf("Row-level security ON: the API connects as %s (member of %s) and the worker as %s (member of %s); migrations as the owner", devstack.APILogin, migrations.APIRole, devstack.WorkerLogin, migrations.WorkerRole))
	} else {
		st.notes = append(st.notes, "Row-level security OFF (-no-rls, a benchmark-only comparison): the API and the worker connect as the superuser, which row-level security does not bind; the API still sends its per-statement user setting")
	}
	var apis, workers []*devstack.Service
	for i := range cfg.workers {
		w, err := st.ds.StartWorker(ctx, numbered("worker", i, cfg.workers), workerCfg, wrapEnv(cfg)...)
		if err != nil {
			return err
		}
		workers = append(workers, w)
		st.procs = append(st.procs, watched{name: procWorker, pid: w.Process().Pid()})
		st.workerBases = append(st.workerBases, w.URL())
	}
	for i := range cfg.apis {
		c := apiCfg
		if cfg.apis > 1 {
			c.InstanceID = instanceID(i)
		}
		a, err := st.ds.StartAPI(ctx, numbered("API", i, cfg.apis), c, wrapEnv(cfg)...)
		if err != nil {
			return err
		}
		apis = append(apis, a)
		st.procs = append(st.procs, watched{name: procAPI, pid: a.Process().Pid()})
		st.apiBases = append(st.apiBases, a.URL())
	}
	st.apiBase = st.apiBases[0]
	watch := func(name string, p *devstack.Process) {
		<-p.Done()
		if !st.stopping.Load() {
			fail(fmt.Errorf("%s exited on its own: %v", name, p.ExitStatus()))
		}
	}
	for _, svc := range append(apis, workers...) {
		go watch(svc.Name(), svc.Process())
	}
	if st.kafka != nil {
		go watch("Kafka", st.kafka)
	}
	if cfg.apis == 1 && cfg.workers == 1 {
		st.notes = append(st.notes, fmt.Sprintf("API (%s) and worker (%s) started by the bench with their default settings, LOG_LEVEL=warn and, for the API, AUTH_DISABLED=true (the bench sends no bearer token: JWT verification is not measured)", cfg.apiBin, cfg.workerBin))
	}

	// Measure a stable group only: a worker that joins late makes the
	// group rebalance, and the partitions stop while it does.
	gs, err := st.groupState(ctx, workerCfg.Group, workerCfg.OrdersTopic, apiCfg.AcksTopic, cfg.workers)
	if err != nil {
		st.log.Warn("consumer group", "err", err)
		st.notes = append(st.notes, "Consumer group not confirmed stable before the load: "+err.Error())
	}
	if cfg.apis > 1 || cfg.workers > 1 {
		st.notes = append(st.notes, scaleNote(cfg, workerCfg.Group, workerCfg.OrdersTopic, apiCfg.AcksTopic, gs))
	}
	return nil
}

// instanceID is the INSTANCE_ID of API instance i (from 0) when the bench
// starts several.
func instanceID(i int) string { return "bench-api-" + strconv.Itoa(i+1) }

// numbered names process i of n of a kind: "API" alone, "API 2" of several.
func numbered(kind string, i, n int) string {
	if n == 1 {
		return kind
	}
	return kind + " " + strconv.Itoa(i+1)
}

// groupState is the consumer group and topics as the report shows them.
type groupState struct {
	ordersPartitions int
	acksPartitions   int
	assignments      [][]int32 // partitions of the orders topic held by each member
}

// groupWait bounds the wait for a stable group: the run goes on after it.
const groupWait = time.Minute

// groupState waits until the workers' group is stable
// (devstack.WaitGroupStable) and reads the ACK topic's partition count.
func (st *stack) groupState(ctx context.Context, group, orders, acks string, members int) (groupState, error) {
	ctx, cancel := context.WithTimeout(ctx, groupWait)
	defer cancel()
	g, err := st.ds.WaitGroupStable(ctx, group, members)
	gs := groupState{ordersPartitions: g.Partitions, assignments: g.Assignments}
	if parts, perr := devstack.TopicPartitions(st.ds.Brokers(), acks); perr == nil {
		gs.acksPartitions = parts[acks]
	}
	return gs, err
}

// scaleNote describes the processes of a scale-out run for the report.
func scaleNote(cfg config, group, orders, acks string, gs groupState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale-out: %d API instance(s) and %d worker(s) started by the bench with their default settings (DB pools %d and %d each), LOG_LEVEL=warn and, for the API instances, AUTH_DISABLED=true (no bearer token: JWT verification not measured), on the same PostgreSQL and broker.",
		cfg.apis, cfg.workers, apiPoolSize, workerPoolSize)
	if cfg.apis > 1 {
		fmt.Fprintf(&b, " API instances: INSTANCE_ID %s to %s, each on its own port; the load sends its requests to them in turn (round-robin per request, one keep-alive pool per instance).",
			instanceID(0), instanceID(cfg.apis-1))
		if gs.acksPartitions > 0 {
			var parts []string
			seen := map[int32]int{}
			shared := false
			for i := range cfg.apis {
				p := kafka.ReplyPartitionFor(instanceID(i), gs.acksPartitions)
				parts = append(parts, fmt.Sprintf("%s → %d", instanceID(i), p))
				seen[p]++
				if seen[p] > 1 {
					shared = true
				}
			}
			fmt.Fprintf(&b, " Each reads one partition of %s (%d partitions, hashed from INSTANCE_ID): %s", acks, gs.acksPartitions, strings.Join(parts, ", "))
			if shared {
				b.WriteString("; some instances SHARE an ACK partition: each also reads and drops the other's ACKs")
			}
			b.WriteString(".")
		}
	}
	if cfg.workers > 1 || len(gs.assignments) > 1 {
		fmt.Fprintf(&b, " Workers: consumer group %s", group)
		if len(gs.assignments) > 0 {
			var parts []string
			for _, a := range gs.assignments {
				parts = append(parts, fmt.Sprint(a))
			}
			fmt.Fprintf(&b, ", %d members, partitions of %s (%d) held as %s (sticky strategy), stable before the load", len(gs.assignments), orders, gs.ordersPartitions, strings.Join(parts, " "))
		}
		b.WriteString(".")
	}
	return b.String()
}

// stop stops the children (the APIs first, so that nothing sends to the
// workers), the broker and PostgreSQL, and removes the temporary directory
// (devstack.Stack.Close).
func (st *stack) stop() {
	st.stopping.Store(true)
	if st.ds == nil {
		return
	}
	if st.callgrind {
		// Callgrind asserts on the SIGTERM of a graceful stop (as on
		// SIGURG), and the windows are measured: kill them.
		for _, svc := range st.ds.Services() {
			svc.Kill()
		}
	}
	if err := st.ds.Close(); err != nil {
		st.log.Warn("stop", "err", err)
	}
	if err := os.RemoveAll(st.ds.Dir); err != nil {
		st.log.Warn("remove temporary directory", "dir", st.ds.Dir, "err", err)
	}
}

// postmasterPID finds the PostgreSQL server process of dbURL: the parent of
// our own backend. It fails when the server runs on another machine or in
// another PID namespace.
func postmasterPID(ctx context.Context, dbURL string) (int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0, err
	}
	st, err := procfs.ReadStat(backend)
	if err != nil {
		return 0, fmt.Errorf("backend %d is not visible in /proc (server in a container or elsewhere?): %w", backend, err)
	}
	if _, err := procfs.ReadStat(st.PPID); err != nil || st.PPID <= 1 {
		return 0, fmt.Errorf("postmaster of backend %d not found", backend)
	}
	return st.PPID, nil
}

func execOnce(ctx context.Context, dbURL, sql string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// checkLoopbackURL accepts only http URLs on this machine: the bench must
// never load a remote service.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("URL %q: only http:// is supported", raw)
	}
	return checkLoopbackHost(u.Hostname())
}

// checkLoopbackHost accepts 127.0.0.1 (and the rest of 127/8), ::1,
// localhost, and Unix socket directories.
func checkLoopbackHost(host string) error {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("host %q is not this machine: the bench only targets 127.0.0.1", host)
}

func checkDatabaseURL(dbURL string) error {
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := checkLoopbackHost(cfg.Host); err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	return nil
}

// jitName describes an -apache-jit value in the set-up notes.
func jitName(jit string) string {
	if jit == jitC1 {
		return "C1 only (-apache-jit c1)"
	}
	return "C1 and C2, Kafka's default (-apache-jit c1c2)"
}
