// Command bench measures OrderStream end to end and, in the same run, the
// baselines its figures are compared with, so that ratios hold on a noisy
// machine.
//
//	go run ./cmd/bench [flags]      (make bench: bin/bench after make build)
//
// Unless -api is given it starts the stack itself: PostgreSQL in a temporary
// directory with normal durability (fsync on), a broker with 8 partitions
// (-kafka kfake, the default: franz-go's kfake in a child process; -kafka
// apache: one Apache Kafka KRaft node, whose jars make kafka fetches;
// KAFKA_KIND gives the default), and the worker and API binaries as child
// processes; with DATABASE_URL or KAFKA_BROKERS set it uses those instead. This process is
// the load generator: it talks to the API over real HTTP (keep-alive),
// closed loop, N requests in flight. It measures
//
//   - createOrder over GraphQL at each -levels concurrency, and at the same
//     levels the database floor: the naive per-order work (INSERT, UPDATE
//     PROCESSING, UPDATE DONE, each its own commit) with pgx in a database of
//     its own on the same server;
//   - at the same levels, the seed design written plainly (seeddesign.go):
//     a child process of this binary serving POST /orders (INSERT, send
//     the event with a sarama SyncProducer, wait for the ACK) and running a
//     consumer-group worker that takes one message at a time (two UPDATEs,
//     each its own commit, then the ACK), on its own database, table and
//     topics on the same PostgreSQL and broker: the baseline of the
//     *vs seed design* column;
//   - POST /orders (REST) at -rest-level, in each round of that level
//     right after createOrder;
//   - orderByExternalId over GraphQL at -lookup-level on a table of 10,000
//     orders, then on -rows orders, each followed by the same point select
//     with pgx;
//   - the same lookups through PostGraphile 4 (npm), a GraphQL server that
//     generates its schema from the database, over the same table and
//     index, in a Node.js process of its own: the GraphQL baseline;
//   - CPU seconds of the API, the worker, the seed design, the broker,
//     PostgreSQL, PostGraphile and the load generator in each measurement
//     window, and peak RSS of the API and the worker.
//
// With -callgrind DIR the API, the worker and the seed design run under
// valgrind's callgrind, and the report adds the instructions per operation
// of each (callgrind.go): a CPU figure that a noisy machine does not move.
//
// The bench prints a markdown report (also to -out) and writes an SVG chart
// (-chart: throughput and p99 per level of createOrder, the seed design and
// the floor). Only 127.0.0.1 is targeted.
//
// -apis N and -workers M start N API instances (each on its own port, with
// INSTANCE_ID bench-api-1 … bench-api-N) and M workers in one consumer
// group, all on the same PostgreSQL and broker; the load is spread over the
// API instances round-robin, request by request, and the CPU columns sum
// the processes of each kind. -phases runs only some phases (create, seed,
// floor, rest, lookup, select), e.g. -phases create,floor -levels 64 to compare
// set-ups quickly.
//
// The API and the worker it starts connect as their own database roles,
// which PostgreSQL row-level security binds, as in production; -no-rls
// connects them as the superuser instead, to measure what row-level
// security costs (a benchmark-only comparison, never a deployment shape).
// Ctrl-C stops the load, prints what was measured and stops the children.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderstream/orderstream/internal/devstack"
)

// config is the command line.
type config struct {
	apiURL      string
	apiBin      string
	workerBin   string
	apiPID      int
	workerPID   int
	levels      []int
	rounds      int // rounds of the create phases at each level and of the lookup phases on each table
	duration    time.Duration
	warmup      time.Duration
	rows        int
	lookupLevel int
	restLevel   int
	grownLevel  int
	partitions  int
	maxOps      int64
	tmpDir      string
	out         string
	cpuProfile  string
	// cpuProfileWorker: -cpuprofile-worker (the first worker's profile).
	cpuProfileWorker string
	// callgrindDir: -callgrind (the API, the worker and the seed design run
	// under callgrind, their dumps here); "" when off.
	callgrindDir string
	coldTables   bool
	apis         int                 // API instances to start
	workers      int                 // workers to start, in one consumer group
	phases       phaseSet            // the phases to run
	rls          bool                // the API and worker connect as their roles (not -no-rls)
	kafkaKind    devstack.BrokerKind // the broker the bench starts: kfake or apache
	apacheJIT    string              // apache: the JVM's JIT compilers, c1 or c1c2
	chart        string              // SVG chart path; "" when none
	args         []string            // as given, for the report
	// postGraphileDir holds PostGraphile's package.json and node_modules.
	postGraphileDir string
}

func (c config) maxLevel() int {
	return slices.Max(append([]int{c.lookupLevel, c.restLevel, c.grownLevel}, c.levels...))
}

const (
	maxConcurrency = 1024
	smallTableRows = 10_000
	maxProcesses   = 16 // of each kind: -apis and -workers
)

// Phase selectors of -phases, in run order.
const (
	selCreate = "create" // GraphQL createOrder at each -levels
	selSeed   = "seed"   // the seed design's POST /orders at each -levels (and at -rest-level with rest)
	selFloor  = "floor"  // the DB floor at each -levels (and at -rest-level with rest)
	selREST   = "rest"   // POST /orders at -rest-level
	selLookup = "lookup" // GraphQL orderByExternalId on both tables
	selSelect = "select" // the pgx point select (lookup floor) on both tables
	// PostGraphile's lookup on both tables (the GraphQL baseline).
	selPostGraphile = "postgraphile"
	// GraphQL createOrder at -grown-level on tables of -rows orders and
	// twice as many events (writes flat with size).
	selGrown = "grown"
)

var allPhases = []string{selCreate, selSeed, selFloor, selREST, selLookup, selSelect, selPostGraphile, selGrown}

// The JIT compilers of the Apache Kafka broker's JVM (-apache-jit).
const (
	jitC1C2 = "c1c2"
	jitC1   = "c1"
)

// phaseSet is the phases a run does.
type phaseSet map[string]bool

func (p phaseSet) has(name string) bool { return p[name] }

// lookups reports whether the lookup tables are needed.
func (p phaseSet) lookups() bool { return p[selLookup] || p[selSelect] || p[selPostGraphile] }

// parsePhases parses "create,floor" or "all".
func parsePhases(s string) (phaseSet, error) {
	set := phaseSet{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case f == "":
			continue
		case f == "all":
			for _, p := range allPhases {
				set[p] = true
			}
		case slices.Contains(allPhases, f):
			set[f] = true
		default:
			return nil, fmt.Errorf("-phases: unknown phase %q (known: all, %s)", f, strings.Join(allPhases, ", "))
		}
	}
	if len(set) == 0 {
		return nil, errors.New("-phases: no phase given")
	}
	return set, nil
}

// envKafkaKind is the environment variable that gives -kafka its default
// (as for the tests, which also know apache3: the bench does not).
const envKafkaKind = "KAFKA_KIND"

// noChart is the -chart value that writes no chart.
const noChart = "off"

// parseConfig parses the command line; getenv gives the defaults that come
// from the environment (os.Getenv).
func parseConfig(args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{args: args}
	defaultKind := string(devstack.KindKfake)
	if k := getenv(envKafkaKind); k != "" {
		defaultKind = k
	}
	fs.StringVar(&c.apacheJIT, "apache-jit", jitC1C2, "with -kafka apache: the broker JVM's JIT compilers: "+jitC1C2+" (Kafka's default, as in production) or "+jitC1+" (-XX:TieredStopAtLevel=1, the tests' quick start)")
	kafkaKind := fs.String("kafka", defaultKind, "the broker the bench starts (unless KAFKA_BROKERS is set): kfake (in a child process) or apache (one Apache Kafka KRaft node; make kafka installs it); default from "+envKafkaKind+", else kfake")
	fs.StringVar(&c.chart, "chart", "", "write an SVG chart (throughput and p99 per level of createOrder, the seed design and the floor) to this file; default: beside -out (.svg instead of its extension), else in the system's temporary directory; \""+noChart+"\" writes none")
	levels := fs.String("levels", "1,16,64,128", "concurrency levels (requests in flight) of the create phases, comma-separated")
	fs.StringVar(&c.apiURL, "api", "", "URL of a running API (http://127.0.0.1:PORT) instead of starting one, run with AUTH_DISABLED=true (the bench sends no token); needs DATABASE_URL")
	fs.StringVar(&c.apiBin, "api-bin", "bin/orderstream", "API binary to start")
	fs.StringVar(&c.workerBin, "worker-bin", "bin/orderstream-worker", "worker binary to start")
	fs.IntVar(&c.apiPID, "api-pid", 0, "with -api: PID of the API, to measure its CPU and RSS")
	fs.IntVar(&c.workerPID, "worker-pid", 0, "with -api: PID of the worker, to measure its CPU and RSS")
	fs.IntVar(&c.rounds, "rounds", 1, "rounds of the create and lookup phases: at each level, createOrder, the seed design and the floor run one after the other this many times, and on each table the lookups, PostGraphile's and the pgx select, so that each round's ratios compare phases a few seconds apart on a machine whose load drifts; the report gives every round and the median")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measurement window of each phase")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each window")
	fs.IntVar(&c.rows, "rows", 1_000_000, "orders in the big lookup table")
	fs.IntVar(&c.lookupLevel, "lookup-level", 16, "requests in flight of the lookup phases")
	fs.IntVar(&c.restLevel, "rest-level", 64, "requests in flight of the REST create phase")
	fs.IntVar(&c.grownLevel, "grown-level", 64, "requests in flight of the grown phase: createOrder on tables of -rows orders and twice as many events, against createOrder at the same level on the small tables")
	fs.IntVar(&c.partitions, "partitions", 8, "partitions of the Kafka topics when the bench starts the broker")
	fs.Int64Var(&c.maxOps, "max-ops", 5_000_000, "upper bound of the operations started in one phase")
	fs.StringVar(&c.tmpDir, "tmp", "", "parent directory of the throwaway PostgreSQL (default: the system's temporary directory)")
	fs.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	fs.BoolVar(&c.coldTables, "cold-tables", false, "run the create phases on the empty, never analyzed tables (a new deployment's first minute) instead of warming them with 10,000 orders and ANALYZE")
	fs.StringVar(&c.cpuProfile, "cpuprofile-api", "", "fetch a CPU profile of the API during the highest create level into this file (needs /debug/pprof on the API; with -apis N, of the first instance)")
	fs.StringVar(&c.cpuProfileWorker, "cpuprofile-worker", "", "fetch a CPU profile of the worker during the highest create level into this file (its health endpoint's /debug/pprof; with -workers N, of the first)")
	fs.StringVar(&c.callgrindDir, "callgrind", "", "count instructions per operation: run the API, the worker and the seed design under valgrind's callgrind (tens of times slower), zero their counters as each window starts and dump them into this directory as it ends")
	fs.IntVar(&c.apis, "apis", 1, "API instances to start (each on its own port, INSTANCE_ID bench-api-1 …); the load goes round-robin over them")
	fs.IntVar(&c.workers, "workers", 1, "workers to start, in one consumer group (they share the partitions of the orders topic)")
	noRLS := fs.Bool("no-rls", false, "benchmark-only comparison: the API and the worker connect as the database superuser, which row-level security does not bind (default: as their own roles, as in production)")
	fs.StringVar(&c.postGraphileDir, "postgraphile-dir", "deploy/postgraphile", "PostGraphile 4, the lookup baseline, as `make postgraphile` installs it")
	phases := fs.String("phases", "all", "phases to run, comma-separated: all, or some of "+strings.Join(allPhases, ", "))
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.callgrindDir != "" {
		abs, err := filepath.Abs(c.callgrindDir) // the children's working directory may differ
		if err != nil {
			return c, err
		}
		c.callgrindDir = abs
	}
	c.rls = !*noRLS
	switch k := devstack.BrokerKind(strings.ToLower(strings.TrimSpace(*kafkaKind))); k {
	case devstack.KindKfake, devstack.KindApache:
		c.kafkaKind = k
	default:
		return c, fmt.Errorf("-kafka (or %s) %q: want %s or %s", envKafkaKind, *kafkaKind, devstack.KindKfake, devstack.KindApache)
	}
	if c.apacheJIT != jitC1 && c.apacheJIT != jitC1C2 {
		return c, fmt.Errorf("-apache-jit %q: want %s or %s", c.apacheJIT, jitC1C2, jitC1)
	}
	c.chart = chartPath(c.chart, c.out, time.Now())
	var err error
	if c.levels, err = parseLevels(*levels); err != nil {
		return c, err
	}
	if c.phases, err = parsePhases(*phases); err != nil {
		return c, err
	}
	switch {
	case c.duration <= 0 || c.duration > time.Hour:
		return c, fmt.Errorf("-duration %s: must be above 0 and at most 1h", c.duration)
	case c.warmup < 0 || c.warmup > 10*time.Minute:
		return c, fmt.Errorf("-warmup %s: must be 0 to 10m", c.warmup)
	case c.rounds < 1 || c.rounds > 20:
		return c, fmt.Errorf("-rounds %d: must be 1 to 20", c.rounds)
	case c.rows < 1 || c.rows > 50_000_000:
		return c, fmt.Errorf("-rows %d: must be 1 to 50,000,000", c.rows)
	case c.lookupLevel < 1 || c.lookupLevel > maxConcurrency, c.restLevel < 1 || c.restLevel > maxConcurrency,
		c.grownLevel < 1 || c.grownLevel > maxConcurrency:
		return c, fmt.Errorf("-lookup-level, -rest-level and -grown-level must be 1 to %d", maxConcurrency)
	case c.partitions < 1 || c.partitions > 1000:
		return c, fmt.Errorf("-partitions %d: must be 1 to 1000", c.partitions)
	case c.maxOps < 1:
		return c, errors.New("-max-ops must be at least 1")
	case c.apis < 1 || c.apis > maxProcesses:
		return c, fmt.Errorf("-apis %d: must be 1 to %d", c.apis, maxProcesses)
	case c.workers < 1 || c.workers > maxProcesses:
		return c, fmt.Errorf("-workers %d: must be 1 to %d", c.workers, maxProcesses)
	}
	if c.apiURL != "" {
		if err := checkLoopbackURL(c.apiURL); err != nil {
			return c, fmt.Errorf("-api: %w", err)
		}
		if c.apis != 1 || c.workers != 1 {
			return c, errors.New("-apis and -workers start processes: they do not go with -api")
		}
	} else if c.apiPID != 0 || c.workerPID != 0 {
		return c, errors.New("-api-pid and -worker-pid go with -api")
	}
	return c, nil
}

// chartPath is where the chart goes: flag as given, none for noChart, else
// beside out (its extension replaced by .svg), else a file named for the
// time in the system's temporary directory.
func chartPath(flag, out string, now time.Time) string {
	switch {
	case flag == noChart:
		return ""
	case flag != "":
		return flag
	case out != "":
		return strings.TrimSuffix(out, filepath.Ext(out)) + ".svg"
	default:
		return filepath.Join(os.TempDir(), "orderstream-bench-"+now.UTC().Format("20060102-150405")+".svg")
	}
}

// parseLevels parses "1,16,64": distinct positive levels, in the given order.
func parseLevels(s string) ([]int, error) {
	var levels []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxConcurrency {
			return nil, fmt.Errorf("-levels: %q is not a level from 1 to %d", f, maxConcurrency)
		}
		if slices.Contains(levels, n) {
			return nil, fmt.Errorf("-levels: %d given twice", n)
		}
		levels = append(levels, n)
	}
	if len(levels) == 0 {
		return nil, errors.New("-levels: no level given")
	}
	return levels, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == kafkaChildArg {
		os.Exit(serveKafka(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == designChildArg {
		os.Exit(serveSeedDesign())
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := parseConfig(args, os.Stderr, os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	// Signals stay captured until we exit, so that a second Ctrl-C cannot
	// cut the shutdown of the children short.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, fail := context.WithCancelCause(sigCtx)
	defer fail(nil)

	started := time.Now()
	st, err := startStack(ctx, cfg, log, fail)
	defer st.stop()
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	b := newBench(cfg, log, st)
	runErr := b.run(ctx)
	b.wall = time.Since(started)
	if cause := context.Cause(ctx); cause != nil && runErr != nil {
		runErr = cause
	}
	if errors.Is(runErr, context.Canceled) && sigCtx.Err() != nil {
		runErr = errors.New("interrupted")
	}

	failed := b.failedPhases()
	chartErr := b.chart()
	report := b.report(runErr)
	fmt.Print(report)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			log.Error("write report", "file", cfg.out, "err", err)
			return 1
		}
		log.Info("report written", "file", cfg.out)
	}
	if chartErr != nil {
		log.Error("write chart", "file", cfg.chart, "err", chartErr)
		return 1
	}
	if failed != nil {
		log.Error("benchmark failed", "err", failed)
		if runErr == nil {
			return 1
		}
	}
	if runErr != nil {
		log.Error("benchmark incomplete", "err", runErr)
		if sigCtx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}
