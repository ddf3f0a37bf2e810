package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/migrations"
)

// DatabaseURLs connect to the stack's database as each of its roles.
type DatabaseURLs struct {
	// Owner owns the tables and applies the migrations (MIGRATE_DATABASE_URL).
	Owner string
	// API and Worker are the login roles that row-level security binds
	// (APILogin, WorkerLogin): each process's DATABASE_URL.
	API, Worker string
}

// Topics are the Kafka topics of one OrderStream.
type Topics struct{ Orders, Acks, DLQ string }

// DefaultTopics are the topic names of config's defaults.
var DefaultTopics = Topics{Orders: config.DefaultOrdersTopic, Acks: config.DefaultAcksTopic, DLQ: config.DefaultDLQTopic}

// StackOptions configures StartStack. What is given is used as it is; the
// rest is started and stopped by the stack.
type StackOptions struct {
	// Dir holds the data and the processes' logs (<name>.log). "" makes a
	// temporary directory, removed by Close unless Stack.KeepDir is set.
	Dir string
	// Database, when set, is a database to use: no PostgreSQL is started.
	Database *DatabaseURLs
	// Postgres configures the server started otherwise: DataDir defaults
	// to Dir/pg/data, Log to Log. The database DatabaseName is created and
	// migrated, with the login roles APILogin and WorkerLogin.
	Postgres     PostgresOptions
	DatabaseName string // "" means config.DefaultDatabase
	// Broker, when set, is used (and closed by Close); else one is
	// started from BrokerOptions (StartBroker, the one switch of kinds).
	Broker        Broker
	BrokerOptions BrokerOptions
	// Topics default to DefaultTopics.
	Topics Topics
	// Partitions is the partition count of the topics; 0 means
	// BrokerOptions.Kafka.Partitions, else DefaultPartitions.
	Partitions int32
	// APIBin and WorkerBin are the binaries StartAPI and StartWorker run.
	APIBin, WorkerBin string
	// Wrap, when set, runs the API and worker binaries under this command
	// (ServiceOptions.Wrap), e.g. valgrind for the bench's instruction counts.
	Wrap []string
	// Output receives a copy of every process's output (a terminal); the
	// log files in Dir get it anyway.
	Output io.Writer
	// DeathSignal reaches the processes if this one dies (0: SIGKILL).
	DeathSignal syscall.Signal
	// ProcessGroup runs each process in its own process group (see
	// ServiceOptions.ProcessGroup).
	ProcessGroup bool
	// Log receives the stack's own messages; nil discards them.
	Log *slog.Logger
}

// Stack is one OrderStream's infrastructure and processes: PostgreSQL, a
// broker, and API and worker processes started from config structs. It is
// the launcher that e2e, faults, cmd/bench and cmd/devstack share.
type Stack struct {
	Dir      string
	Postgres *Postgres // nil when the database was given
	DB       DatabaseURLs
	Broker   Broker
	Topics   Topics
	// Partitions is the partition count of the topics, which the services
	// are told (KAFKA_PARTITIONS): StackOptions.Partitions, else the
	// broker's, else DefaultPartitions.
	Partitions int32
	// KeepDir keeps a temporary Dir at Close (a failed test's logs).
	KeepDir bool

	opts    StackOptions
	tempDir bool
	log     *slog.Logger

	mu       sync.Mutex
	services []*Service
}

// StartStack starts what opts does not give. On an error it stops what it
// started.
func StartStack(ctx context.Context, opts StackOptions) (_ *Stack, err error) {
	s := &Stack{Dir: opts.Dir, Topics: opts.Topics, Partitions: opts.Partitions, opts: opts, log: opts.Log}
	if s.Partitions <= 0 {
		s.Partitions = opts.BrokerOptions.Kafka.Partitions
	}
	if s.Partitions <= 0 {
		s.Partitions = DefaultPartitions
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.Topics == (Topics{}) {
		s.Topics = DefaultTopics
	}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "orderstream-stack-"); err != nil {
			return nil, fmt.Errorf("start stack: %w", err)
		}
		s.tempDir = true
	}
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its data directory below this one.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.startDatabase(ctx); err != nil {
		return nil, err
	}
	s.Broker = opts.Broker
	if s.Broker == nil {
		bo := opts.BrokerOptions
		if bo.Kafka.Topics == nil {
			bo.Kafka.Topics = []string{s.Topics.Orders, s.Topics.Acks, s.Topics.DLQ}
		}
		bo.Kafka.Partitions = s.Partitions
		if bo.Kafka.Log == nil {
			bo.Kafka.Log = s.log
		}
		if s.Broker, err = StartBroker(ctx, bo); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) startDatabase(ctx context.Context) error {
	if s.opts.Database != nil {
		s.DB = *s.opts.Database
		return nil
	}
	po := s.opts.Postgres
	if po.DataDir == "" {
		if err := os.MkdirAll(filepath.Join(s.Dir, "pg"), 0o755); err != nil {
			return err
		}
		po.DataDir = filepath.Join(s.Dir, "pg", "data")
	}
	if po.Log == nil {
		po.Log = s.log
	}
	var err error
	if s.Postgres, err = StartPostgres(ctx, po); err != nil {
		return err
	}
	name := s.opts.DatabaseName
	if name == "" {
		name = config.DefaultDatabase
	}
	if err := s.Postgres.CreateDatabase(ctx, name, ""); err != nil {
		return err
	}
	owner := s.Postgres.URL(name)
	// The migrations create the roles the login roles are granted.
	if err := migrations.Up(owner); err != nil {
		return err
	}
	api, worker, err := SetupLogins(ctx, owner, migrations.APIRole, migrations.WorkerRole)
	if err != nil {
		return err
	}
	s.DB = DatabaseURLs{Owner: owner, API: api, Worker: worker}
	return nil
}

// Brokers returns the broker addresses.
func (s *Stack) Brokers() []string { return s.Broker.Brokers() }

// APIConfig is the configuration of an API on this stack: the defaults,
// the stack's database (as the API's login), broker and topics, on
// 127.0.0.1 and a free port, with no drain delay.
func (s *Stack) APIConfig() config.API { return s.APIConfigFrom(config.DefaultAPI()) }

// APIConfigFrom is c (a configuration read from a launcher's environment,
// say) with the stack's contract laid over it, as in APIConfig.
func (s *Stack) APIConfigFrom(c config.API) config.API {
	s.common(&c.Common, s.DB.API)
	c.Port, c.DrainDelay = "0", 0
	return c
}

// WorkerConfig is the configuration of a worker on this stack: the
// defaults, the stack's database (as the worker's login), broker and
// topics, with a health endpoint on a free port of 127.0.0.1.
func (s *Stack) WorkerConfig() config.Worker { return s.WorkerConfigFrom(config.DefaultWorker()) }

// WorkerConfigFrom is c with the stack's contract laid over it, as in
// WorkerConfig; a HealthPort c sets is kept.
func (s *Stack) WorkerConfigFrom(c config.Worker) config.Worker {
	s.common(&c.Common, s.DB.Worker)
	c.DLQTopic = s.Topics.DLQ
	if c.HealthPort == "" {
		c.HealthPort = "0"
	}
	return c
}

// ConfigsFrom reads the API's and the worker's configurations from get
// (a launcher's environment: config.OSEnv) and lays the stack over them:
// a developer's or a benchmark's settings reach the processes through the
// structs. The error names every bad variable.
func (s *Stack) ConfigsFrom(get config.Lookup) (config.API, config.Worker, error) {
	api, aerr := config.LoadAPI(get)
	worker, werr := config.LoadWorker(get)
	return s.APIConfigFrom(api), s.WorkerConfigFrom(worker), errors.Join(aerr, werr)
}

func (s *Stack) common(c *config.Common, dbURL string) {
	c.Host, c.DatabaseURL, c.MigrateURL = config.DefaultHost, dbURL, s.DB.Owner
	c.Brokers, c.OrdersTopic, c.AcksTopic = s.Brokers(), s.Topics.Orders, s.Topics.Acks
	if s.Partitions > 0 {
		c.KafkaPartitions = int(s.Partitions)
	}
}

// APIEnv is the environment of an API process: this process's own, minus
// every variable of config.API, plus cfg's lines and extra (raw lines a
// test adds, which win).
func APIEnv(cfg config.API, extra ...string) []string {
	return append(append(config.Without(os.Environ(), config.APINames()), cfg.Env()...), extra...)
}

// WorkerEnv is APIEnv for a worker.
func WorkerEnv(cfg config.Worker, extra ...string) []string {
	return append(append(config.Without(os.Environ(), config.WorkerNames()), cfg.Env()...), extra...)
}

// StartAPI starts an API process named name (its log: Dir/name.log) and
// waits until its /readyz answers 200. A Port of "" or "0" is a free port,
// kept across restarts of the service.
func (s *Stack) StartAPI(ctx context.Context, name string, cfg config.API, extra ...string) (*Service, error) {
	return s.startOnPort(ctx, "api", &cfg.Port, func(port string) ServiceOptions {
		return ServiceOptions{Name: name, Bin: s.opts.APIBin, Env: APIEnv(cfg, extra...),
			ReadyURL: "http://" + net.JoinHostPort(dialHost(cfg.Host), port) + "/readyz",
			Base:     "http://" + net.JoinHostPort(dialHost(cfg.Host), port)}
	})
}

// StartWorker starts a worker process named name and, when it has a
// HealthPort ("0": a free one), waits until its /readyz answers 200.
func (s *Stack) StartWorker(ctx context.Context, name string, cfg config.Worker, extra ...string) (*Service, error) {
	if cfg.HealthPort == "" {
		svc := s.newService("worker", ServiceOptions{Name: name, Bin: s.opts.WorkerBin, Env: WorkerEnv(cfg, extra...)})
		return svc, svc.Start(ctx)
	}
	return s.startOnPort(ctx, "worker", &cfg.HealthPort, func(port string) ServiceOptions {
		return ServiceOptions{Name: name, Bin: s.opts.WorkerBin, Env: WorkerEnv(cfg, extra...),
			ReadyURL: "http://" + net.JoinHostPort(dialHost(cfg.Host), port) + "/readyz",
			Base:     "http://" + net.JoinHostPort(dialHost(cfg.Host), port)}
	})
}

// startOnPort starts a service on *port; "" or "0" picks a free port,
// trying another one when someone else took it in the meantime.
func (s *Stack) startOnPort(ctx context.Context, kind string, port *string, opts func(port string) ServiceOptions) (*Service, error) {
	pick := *port == "" || *port == "0"
	for attempt := 1; ; attempt++ {
		if pick {
			p, err := FreePort()
			if err != nil {
				return nil, err
			}
			*port = strconv.Itoa(p)
		}
		svc := s.newService(kind, opts(*port))
		err := svc.Start(ctx)
		if err == nil || !pick || attempt == 3 || !strings.Contains(svc.LogTail(2048), "address already in use") {
			return svc, err
		}
		svc.Kill()
		s.forget(svc)
	}
}

func (s *Stack) newService(kind string, o ServiceOptions) *Service {
	o.LogPath = filepath.Join(s.Dir, o.Name+".log")
	o.Output, o.DeathSignal, o.ProcessGroup = s.opts.Output, s.opts.DeathSignal, s.opts.ProcessGroup
	if kind == "api" || kind == "worker" {
		o.Wrap = s.opts.Wrap
	}
	svc := NewService(o)
	svc.kind = kind
	s.mu.Lock()
	s.services = append(s.services, svc)
	s.mu.Unlock()
	return svc
}

func (s *Stack) forget(svc *Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.services {
		if x == svc {
			s.services = append(s.services[:i], s.services[i+1:]...)
			return
		}
	}
}

// Services returns the services started so far, in start order.
func (s *Stack) Services() []*Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Service(nil), s.services...)
}

// WaitGroupStable waits until the workers' consumer group is stable with
// members members holding every partition of the orders topic.
func (s *Stack) WaitGroupStable(ctx context.Context, group string, members int) (GroupState, error) {
	return WaitGroupStable(ctx, s.Brokers(), group, s.Topics.Orders, members)
}

// DumpLogs passes the tail of every log of the stack to logf (a failed
// test's t.Logf).
func (s *Stack) DumpLogs(logf func(format string, args ...any)) {
	files := []string{filepath.Join(s.Dir, "pg", "postgres.log")}
	for _, svc := range s.Services() {
		files = append(files, svc.LogPath())
	}
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			logf("--- %s (tail) ---\n%s", filepath.Base(f), readTail(f, 0, 12<<10))
		}
	}
}

// Close stops the API processes, then the workers (each kind together,
// SIGTERM then SIGKILL after StopTimeout), then the broker and PostgreSQL
// it started, and removes a temporary Dir. It returns the processes' stop
// errors.
func (s *Stack) Close() error {
	var errs []error
	var mu sync.Mutex
	for _, kind := range []string{"api", "worker", ""} {
		var wg sync.WaitGroup
		for _, svc := range s.Services() {
			if svc.kind != kind || !svc.Running() {
				continue
			}
			wg.Go(func() {
				if err := svc.Stop(0); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop %s: %w", svc.Name(), err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	if s.Broker != nil {
		s.Broker.Close()
	}
	if s.Postgres != nil {
		if err := s.Postgres.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.tempDir && !s.KeepDir {
		os.RemoveAll(s.Dir)
	}
	return errors.Join(errs...)
}

// dialHost is where to reach a process listening on host: 127.0.0.1 for
// every interface.
func dialHost(host string) string {
	switch host {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	}
	return host
}
