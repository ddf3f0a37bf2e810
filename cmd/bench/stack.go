package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/migrations"
)

const (
	databaseName     = "orderstream"
	startTimeout     = 2 * time.Minute
	childStopTimeout = 40 * time.Second
	kafkaStopTimeout = 10 * time.Second
	// kafkaChildArg makes this binary serve the kfake broker instead of
	// benchmarking: the broker runs in a process of its own so that its CPU
	// is counted apart from the load generator's.
	kafkaChildArg = "-internal-kafka-broker"
)

// Names of the measured processes, in report order.
const (
	procAPI      = "API"
	procWorker   = "worker"
	procKafka    = "Kafka (kfake)"
	procPostgres = "PostgreSQL"
	procLoad     = "load generator"
)

var procOrder = []string{procAPI, procWorker, procKafka, procPostgres, procLoad}

// watched is a process whose CPU is measured.
type watched struct {
	name string
	pid  int
	tree bool // add its live children (the postmaster's backends)
}

// stack is the system under test: what we started and what we were given.
type stack struct {
	log *slog.Logger

	tmpDir  string // removed by stop
	pg      *devstack.Postgres
	kafka   *devstack.Process
	apis    []*devstack.Process
	workers []*devstack.Process

	dbURL    string
	brokers  string
	apiBase  string   // the first API instance: http://127.0.0.1:PORT
	apiBases []string // every API instance, apiBase first

	ownPG    bool // we started PostgreSQL: its database is ours to reset
	ownKafka bool
	ownAPI   bool

	procs []watched
	notes []string // facts about the set-up for the report

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

// startInfra starts PostgreSQL and the broker unless DATABASE_URL and
// KAFKA_BROKERS say where they are.
func (st *stack) startInfra(ctx context.Context, cfg config) error {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		if err := checkDatabaseURL(u); err != nil {
			return err
		}
		st.dbURL = u
		st.notes = append(st.notes, "PostgreSQL from DATABASE_URL (not started by the bench)")
	} else if err := st.startPostgres(ctx, cfg); err != nil {
		return err
	}

	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		for _, hp := range strings.Split(b, ",") {
			host, _, err := net.SplitHostPort(strings.TrimSpace(hp))
			if err != nil {
				return fmt.Errorf("KAFKA_BROKERS: %w", err)
			}
			if err := checkLoopbackHost(host); err != nil {
				return fmt.Errorf("KAFKA_BROKERS: %w", err)
			}
		}
		st.brokers = b
		st.notes = append(st.notes, "Kafka from KAFKA_BROKERS (not started by the bench)")
		return nil
	}
	return st.startKafka(ctx, cfg.partitions)
}

func (st *stack) startPostgres(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp(cfg.tmpDir, "orderstream-bench-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	st.tmpDir = dir
	// initdb and postgres run as the postgres user when we are root: it
	// must reach the data directory (MkdirTemp makes it 0700).
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	// Normal durability, not devstack's Fast mode: the floor must pay for
	// real WAL flushes, as production does.
	st.pg, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Log: st.log})
	if err != nil {
		return err
	}
	st.ownPG = true
	// The floor at level N holds N connections besides the API's and the
	// worker's pools; the default max_connections (100) is too small.
	maxConns := max(300, cfg.maxLevel()+cfg.lookupLevel+100+cfg.apis*apiPoolSize+cfg.workers*workerPoolSize)
	if err := execOnce(ctx, st.pg.URL("postgres"), fmt.Sprintf("ALTER SYSTEM SET max_connections = %d", maxConns)); err != nil {
		return err
	}
	if err := st.pg.Restart(ctx); err != nil {
		return err
	}
	if err := st.pg.CreateDatabase(ctx, databaseName, ""); err != nil {
		return err
	}
	st.dbURL = st.pg.URL(databaseName)
	st.notes = append(st.notes, fmt.Sprintf(
		"PostgreSQL started by the bench with its default settings and normal durability (NOT the tests' fast mode: fsync, synchronous_commit and full_page_writes stay on), except max_connections = %d (ALTER SYSTEM) so that the floor's pool fits; data in %s (server log: postgres.log there)",
		maxConns, dir))
	return nil
}

// startKafka runs the kfake broker in a child process: this binary with
// kafkaChildArg, which prints the broker address on its stdout.
func (st *stack) startKafka(ctx context.Context, partitions int) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start kafka: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start kafka: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(self, kafkaChildArg, strconv.Itoa(partitions))
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc, err := devstack.StartProcess(cmd, syscall.SIGTERM)
	w.Close()
	if err != nil {
		return fmt.Errorf("start kafka: %w", err)
	}
	st.kafka = proc
	deadline, _ := ctx.Deadline()
	r.SetReadDeadline(deadline) //nolint:errcheck // a pipe supports deadlines; without one the child's exit ends the read
	line, err := bufio.NewReader(r).ReadString('\n')
	brokers, ok := strings.CutPrefix(strings.TrimSpace(line), "KAFKA_BROKERS=")
	if err != nil || !ok || brokers == "" {
		return fmt.Errorf("start kafka: no broker address from the child (read %q: %v)", line, err)
	}
	st.brokers = brokers
	st.ownKafka = true
	st.procs = append(st.procs, watched{name: procKafka, pid: proc.Pid()})
	st.notes = append(st.notes, fmt.Sprintf("Kafka: kfake (franz-go's in-memory Kafka-protocol broker), %d partitions, in a child process of the bench", partitions))
	return nil
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
const (
	apiPoolSize    = 32
	workerPoolSize = 16
)

// startServices starts the workers and the API instances and waits until
// every API is ready and the workers' consumer group is stable.
func (st *stack) startServices(ctx context.Context, cfg config, fail context.CancelCauseFunc) error {
	for name, path := range map[string]string{"API": cfg.apiBin, "worker": cfg.workerBin} {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			return fmt.Errorf("%s binary %s not found: run 'make build' or pass its path", name, path)
		}
	}
	ports, err := freePorts(cfg.apis)
	if err != nil {
		return err
	}
	group := envOr("KAFKA_GROUP", "orderstream-worker")
	// As in production, the API and the worker connect as their own roles,
	// which row-level security binds, and migrate as the owner; -no-rls
	// connects both as the superuser of dbURL, which it does not bind.
	apiDB, workerDB := st.dbURL, st.dbURL
	if cfg.rls {
		if err := postgres.Migrate(st.dbURL); err != nil {
			return err
		}
		if apiDB, workerDB, err = devstack.SetupLogins(ctx, st.dbURL, migrations.APIRole, migrations.WorkerRole); err != nil {
			return fmt.Errorf("create the database logins (-no-rls runs without): %w", err)
		}
		st.notes = append(st.notes, fmt.Sprintf("Row-level security ON: the API connects as %s (member of %s) and the worker as %s (member of %s); migrations as the owner", devstack.APILogin, migrations.APIRole, devstack.WorkerLogin, migrations.WorkerRole))
	} else {
		st.notes = append(st.notes, "Row-level security OFF (-no-rls, a benchmark-only comparison): the API and the worker connect as the superuser, which row-level security does not bind; the API still sends its per-statement user setting")
	}
	env := append(os.Environ(),
		"MIGRATE_DATABASE_URL="+st.dbURL,
		"KAFKA_BROKERS="+st.brokers,
		"LOG_LEVEL=warn",
	)
	workerEnv := append(slices.Clone(env), "DATABASE_URL="+workerDB)
	env = append(env, "DATABASE_URL="+apiDB)
	if cfg.workers > 1 {
		workerEnv = append(workerEnv, "KAFKA_GROUP="+group)
	}
	for range cfg.workers {
		w, err := startChild(cfg.workerBin, workerEnv)
		if err != nil {
			return err
		}
		st.workers = append(st.workers, w)
		st.procs = append(st.procs, watched{name: procWorker, pid: w.Pid()})
	}
	// The bench sends no bearer token: the API runs without authentication
	// (AUTH_DISABLED, meant for tests and benchmarks), whatever AUTH_* this
	// process was given, since a secret or JWKS would switch it back on.
	baseAPIEnv := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "AUTH_JWT_SECRET=") || strings.HasPrefix(kv, "AUTH_JWKS_FILE=") || strings.HasPrefix(kv, "AUTH_JWKS_URL=") || strings.HasPrefix(kv, "AUTH_DISABLED=")
	})
	baseAPIEnv = append(baseAPIEnv, "AUTH_DISABLED=true")
	for i, port := range ports {
		apiEnv := append(slices.Clone(baseAPIEnv), "PORT="+strconv.Itoa(port))
		if cfg.apis > 1 {
			apiEnv = append(apiEnv, "INSTANCE_ID="+instanceID(i))
		}
		if cfg.cpuProfile != "" {
			apiEnv = append(apiEnv, "PPROF=true") // /debug/pprof/ on the API's port
		}
		a, err := startChild(cfg.apiBin, apiEnv)
		if err != nil {
			return err
		}
		st.apis = append(st.apis, a)
		st.procs = append(st.procs, watched{name: procAPI, pid: a.Pid()})
		st.apiBases = append(st.apiBases, "http://127.0.0.1:"+strconv.Itoa(port))
	}
	st.ownAPI = true
	st.apiBase = st.apiBases[0]

	type child struct {
		name string
		p    *devstack.Process
	}
	children := []child{{"Kafka", st.kafka}}
	for i, p := range st.apis {
		children = append(children, child{numbered("API", i, cfg.apis), p})
	}
	for i, p := range st.workers {
		children = append(children, child{numbered("worker", i, cfg.workers), p})
	}
	for _, c := range children {
		if c.p == nil {
			continue
		}
		go func() {
			<-c.p.Done()
			if !st.stopping.Load() {
				fail(fmt.Errorf("%s exited on its own: %v", c.name, c.p.ExitStatus()))
			}
		}()
	}
	for i, base := range st.apiBases {
		if err := waitReady(ctx, base+"/readyz", st.apis[i]); err != nil {
			return err
		}
	}
	if cfg.apis == 1 && cfg.workers == 1 {
		st.notes = append(st.notes, fmt.Sprintf("API (%s) and worker (%s) started by the bench with their default settings, LOG_LEVEL=warn and, for the API, AUTH_DISABLED=true (the bench sends no bearer token: JWT verification is not measured)", cfg.apiBin, cfg.workerBin))
	}

	// Measure a stable group only: a worker that joins late makes the
	// group rebalance, and the partitions stop while it does.
	orders := envOr("KAFKA_ORDERS_TOPIC", devstack.DefaultOrdersTopic)
	acks := envOr("KAFKA_ACKS_TOPIC", devstack.DefaultAcksTopic)
	gs, err := waitGroupStable(ctx, st.brokers, group, orders, acks, cfg.workers)
	if err != nil {
		st.log.Warn("consumer group", "err", err)
		st.notes = append(st.notes, "Consumer group not confirmed stable before the load: "+err.Error())
	}
	if cfg.apis > 1 || cfg.workers > 1 {
		st.notes = append(st.notes, scaleNote(cfg, group, orders, acks, gs))
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

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 10*n {
			return nil, errors.New("no distinct free ports found")
		}
		p, err := devstack.FreePort()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// replyPartition is the ACK partition an API instance reads when
// REPLY_PARTITION is not set: the FNV-1a hash of its INSTANCE_ID modulo the
// partition count, as kafka.NewRequester computes it.
func replyPartition(instanceID string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	return int(h.Sum32() % uint32(partitions))
}

// groupState is what waitGroupStable found.
type groupState struct {
	ordersPartitions int
	acksPartitions   int
	assignments      [][]int32 // partitions of the orders topic held by each member
}

// waitGroupStable waits until the consumer group is stable with members
// members holding every partition of the orders topic between them, and
// returns its assignment. It gives up after groupWait: the run goes on.
func waitGroupStable(ctx context.Context, brokers, group, orders, acks string, members int) (groupState, error) {
	ctx, cancel := context.WithTimeout(ctx, groupWait)
	defer cancel()
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	cfg.ClientID = "orderstream-bench"
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	var gs groupState
	last := errors.New("not checked")
	for {
		gs, last = describeGroup(cfg, strings.Split(brokers, ","), group, orders, acks, members)
		if last == nil {
			return gs, nil
		}
		select {
		case <-ctx.Done():
			return gs, fmt.Errorf("group %s not stable with %d members holding all partitions of %s: %w", group, members, orders, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

const groupWait = time.Minute

func describeGroup(cfg *sarama.Config, brokers []string, group, orders, acks string, members int) (groupState, error) {
	var gs groupState
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return gs, err
	}
	defer admin.Close()
	topics, err := admin.DescribeTopics([]string{orders, acks})
	if err != nil {
		return gs, fmt.Errorf("describe topics: %w", err)
	}
	for _, t := range topics {
		switch t.Name {
		case orders:
			gs.ordersPartitions = len(t.Partitions)
		case acks:
			gs.acksPartitions = len(t.Partitions)
		}
	}
	groups, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(groups) != 1 {
		return gs, fmt.Errorf("describe group: %v", err)
	}
	g := groups[0]
	held := 0
	for _, m := range g.Members {
		a, err := m.GetMemberAssignment()
		if err != nil || a == nil {
			return gs, fmt.Errorf("member %s has no assignment yet (%v)", m.ClientHost, err)
		}
		parts := slices.Clone(a.Topics[orders])
		slices.Sort(parts)
		gs.assignments = append(gs.assignments, parts)
		held += len(parts)
	}
	slices.SortFunc(gs.assignments, func(a, b []int32) int {
		if len(a) == 0 || len(b) == 0 {
			return len(a) - len(b)
		}
		return int(a[0] - b[0])
	})
	if g.State != "Stable" || len(g.Members) != members || gs.ordersPartitions == 0 || held != gs.ordersPartitions {
		return gs, fmt.Errorf("state %s, %d members, %d of %d partitions assigned", g.State, len(g.Members), held, gs.ordersPartitions)
	}
	return gs, nil
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
			seen := map[int]int{}
			shared := false
			for i := range cfg.apis {
				p := replyPartition(instanceID(i), gs.acksPartitions)
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

func startChild(path string, env []string) (*devstack.Process, error) {
	if !strings.ContainsRune(path, filepath.Separator) {
		path = "." + string(filepath.Separator) + path // a file here, not a command on PATH
	}
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Own process group: a Ctrl-C reaches the bench only, which then stops
	// the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return devstack.StartProcess(cmd, syscall.SIGTERM)
}

// waitReady polls url until it answers 200, ctx ends or proc exits.
func waitReady(ctx context.Context, url string, proc *devstack.Process) error {
	err := devstack.WaitHTTP(ctx, url, proc.Done())
	if err != nil && proc.Exited() {
		return fmt.Errorf("API exited during start-up: %v", proc.ExitStatus())
	}
	if err != nil {
		return fmt.Errorf("API not ready: %w", err)
	}
	return nil
}

// stop stops the children (the APIs first, so that nothing sends to the
// workers), the broker and PostgreSQL, and removes the temporary directory.
// The processes of one kind stop together.
func (st *stack) stop() {
	st.stopping.Store(true)
	type child struct {
		name string
		p    *devstack.Process
	}
	var apis, workers []child
	for i, p := range st.apis {
		apis = append(apis, child{numbered("API", i, len(st.apis)), p})
	}
	for i, p := range st.workers {
		workers = append(workers, child{numbered("worker", i, len(st.workers)), p})
	}
	for _, kind := range []struct {
		children []child
		timeout  time.Duration
	}{{apis, childStopTimeout}, {workers, childStopTimeout}, {[]child{{"Kafka", st.kafka}}, kafkaStopTimeout}} {
		var wg sync.WaitGroup
		for _, c := range kind.children {
			if c.p == nil || c.p.Exited() {
				continue
			}
			wg.Go(func() {
				if err := c.p.Stop(syscall.SIGTERM, kind.timeout); err != nil {
					st.log.Warn("stop "+c.name, "err", err)
				}
			})
		}
		wg.Wait()
	}
	if st.pg != nil {
		if err := st.pg.Stop(); err != nil {
			st.log.Warn("stop PostgreSQL", "err", err)
		}
	}
	if st.tmpDir != "" {
		if err := os.RemoveAll(st.tmpDir); err != nil {
			st.log.Warn("remove temporary directory", "dir", st.tmpDir, "err", err)
		}
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
	st, err := readStat(backend)
	if err != nil {
		return 0, fmt.Errorf("backend %d is not visible in /proc (server in a container or elsewhere?): %w", backend, err)
	}
	if _, err := readStat(st.ppid); err != nil || st.ppid <= 1 {
		return 0, fmt.Errorf("postmaster of backend %d not found", backend)
	}
	return st.ppid, nil
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
