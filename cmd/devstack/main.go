// Command devstack runs OrderStream locally without containers.
//
//	devstack infra [flags]
//	devstack run -api PATH -worker PATH [flags]
//
// infra starts PostgreSQL (data in .data/postgres, server log in
// .data/postgres.log) with a database named orderstream, migrated, and the
// login roles orderstream_api_login and orderstream_worker_login (members
// of the roles row-level security binds, see docs/SECURITY.md), and an
// in-process Kafka-protocol broker (data in .data/kafka) with the topics
// orders and order-acks, prints their addresses as DATABASE_URL=... (the
// API's login), WORKER_DATABASE_URL=..., MIGRATE_DATABASE_URL=... (the
// owner) and KAFKA_BROKERS=... lines on stdout and runs until SIGINT or
// SIGTERM.
//
// run does the same, then starts the worker and the API binaries with
// DATABASE_URL (each its own login), MIGRATE_DATABASE_URL, KAFKA_BROKERS
// and PORT in their environment, waits for the
// API's /healthz and runs until SIGINT or SIGTERM, or until a child exits on
// its own (exit status 1).
//
// The API runs with authentication on. Unless AUTH_JWT_SECRET, AUTH_JWKS_FILE
// or AUTH_DISABLED=true is set, run gives it a development HS256 secret
// (random, kept in .data/dev-jwt-secret) and, once the API is up, prints a
// bearer token valid 24 h for a demo user as USER_ID=... and TOKEN=... lines
// on stdout, so that the README's examples work by copy-paste. The API gets
// the same token as GRAPHIQL_DEMO_TOKEN, so that GraphiQL on / opens with it
// in its headers (not when APP_ENV=production).
//
// Ports come from flags, defaulting to the environment variables PG_PORT
// (55432), KAFKA_PORT (9092), KAFKA_PARTITIONS (8) and PORT (8080).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/migrations"
)

const (
	databaseName      = "orderstream"
	healthTimeout     = 60 * time.Second
	childStopTimeout  = 40 * time.Second
	infraStartTimeout = 2 * time.Minute
	// demoUserID is the user of the printed demo token (the README's USER_ID).
	demoUserID   = "7f1d1d0e-5c3b-4a9e-9b7e-2f0d2b1c9a11"
	demoTokenTTL = 24 * time.Hour
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "infra":
		return cmdInfra(log, args[1:])
	case "run":
		return cmdRun(log, args[1:])
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "devstack: unknown command %q\n", args[0])
		usage(os.Stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  devstack infra [flags]                        PostgreSQL + Kafka until Ctrl-C
  devstack run -api PATH -worker PATH [flags]   the same, plus the worker and the API

Run "devstack infra -h" or "devstack run -h" for the flags.
`)
}

// infraFlags are the flags shared by both commands.
type infraFlags struct {
	dataDir    string
	pgPort     int
	kafkaPort  int
	partitions int
}

func (f *infraFlags) register(fs *flag.FlagSet) error {
	pgPort, err1 := envInt("PG_PORT", 55432)
	kafkaPort, err2 := envInt("KAFKA_PORT", 9092)
	partitions, err3 := envInt("KAFKA_PARTITIONS", 8)
	fs.StringVar(&f.dataDir, "data", ".data", "directory for the PostgreSQL and Kafka data and the server log")
	fs.IntVar(&f.pgPort, "pg-port", pgPort, "PostgreSQL port (env PG_PORT)")
	fs.IntVar(&f.kafkaPort, "kafka-port", kafkaPort, "Kafka port (env KAFKA_PORT)")
	fs.IntVar(&f.partitions, "partitions", partitions, "partitions of the Kafka topics (env KAFKA_PARTITIONS)")
	return errors.Join(err1, err2, err3)
}

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def, fmt.Errorf("environment variable %s=%q is not a number", name, s)
	}
	return n, nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// infra is the running PostgreSQL and Kafka.
type infra struct {
	log         *slog.Logger
	pg          *devstack.Postgres
	kafka       *devstack.Kafka
	databaseURL string // the API's login
	workerURL   string // the worker's login
	ownerURL    string // the superuser: migrations
	brokers     string
}

func startInfra(ctx context.Context, log *slog.Logger, f infraFlags) (*infra, error) {
	ctx, cancel := context.WithTimeout(ctx, infraStartTimeout)
	defer cancel()
	if f.partitions < 1 {
		return nil, fmt.Errorf("partitions must be at least 1, not %d", f.partitions)
	}
	if err := os.MkdirAll(f.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// With no Output, the server log goes to postgres.log next to the data
	// directory: .data/postgres.log.
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{
		DataDir: filepath.Join(f.dataDir, "postgres"),
		Port:    f.pgPort,
		Log:     log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n(server log: %s)", err, filepath.Join(f.dataDir, "postgres.log"))
	}
	if err := pg.CreateDatabase(ctx, databaseName, ""); err != nil {
		stopPostgres(log, pg)
		return nil, err
	}
	apiURL, workerURL, err := setupRoles(ctx, pg.URL(databaseName))
	if err != nil {
		stopPostgres(log, pg)
		return nil, err
	}
	kafka, err := devstack.StartKafka(devstack.KafkaOptions{
		Port:       f.kafkaPort,
		DataDir:    filepath.Join(f.dataDir, "kafka"),
		Partitions: int32(f.partitions),
		Log:        log,
	})
	if err != nil {
		stopPostgres(log, pg)
		return nil, err
	}
	return &infra{
		log:         log,
		pg:          pg,
		kafka:       kafka,
		databaseURL: apiURL,
		workerURL:   workerURL,
		ownerURL:    pg.URL(databaseName),
		brokers:     strings.Join(kafka.Brokers(), ","),
	}, nil
}

// setupRoles migrates the database as the superuser ownerURL (the
// migrations create the NOLOGIN roles orderstream_api and
// orderstream_worker), then creates the development login roles, and
// returns the API's and the worker's URLs.
func setupRoles(ctx context.Context, ownerURL string) (apiURL, workerURL string, err error) {
	if err := postgres.Migrate(ownerURL); err != nil {
		return "", "", err
	}
	return devstack.SetupLogins(ctx, ownerURL, migrations.APIRole, migrations.WorkerRole)
}

func stopPostgres(log *slog.Logger, pg *devstack.Postgres) {
	if err := pg.Stop(); err != nil {
		log.Error("stop postgres", "err", err)
	}
}

// stop closes the broker, then stops PostgreSQL.
func (in *infra) stop() {
	in.kafka.Close()
	in.log.Info("kafka stopped")
	stopPostgres(in.log, in.pg)
}

func (in *infra) printEnv() {
	fmt.Printf("DATABASE_URL=%s\nWORKER_DATABASE_URL=%s\nMIGRATE_DATABASE_URL=%s\nKAFKA_BROKERS=%s\n",
		in.databaseURL, in.workerURL, in.ownerURL, in.brokers)
}

func cmdInfra(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("devstack infra", flag.ContinueOnError)
	var f infraFlags
	envErr := f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "devstack infra:", err)
		return 2
	}
	if envErr != nil {
		fmt.Fprintln(os.Stderr, "devstack infra:", envErr)
		return 2
	}

	// Signals stay captured until we exit, so a second Ctrl-C cannot cut
	// the shutdown short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in, err := startInfra(ctx, log, f)
	if err != nil {
		log.Error("start infrastructure", "err", err)
		return 1
	}
	in.printEnv()
	log.Info("infrastructure is up; Ctrl-C stops it")
	<-ctx.Done()
	log.Info("stopping")
	in.stop()
	return 0
}

// child is a started worker or API binary.
type child struct {
	name string
	path string
	proc *devstack.Process
}

func startChild(name, path string, env []string) (*child, error) {
	if !strings.ContainsRune(path, filepath.Separator) {
		// A bare name means a file here, not a command on PATH.
		path = "." + string(filepath.Separator) + path
	}
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Own process group: a Ctrl-C reaches devstack only, which then stops
	// the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc, err := devstack.StartProcess(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &child{name: name, path: path, proc: proc}, nil
}

// stop sends SIGTERM to the child's process group and kills it after
// childStopTimeout.
func (c *child) stop(log *slog.Logger) {
	if c == nil {
		return
	}
	if c.proc.Exited() {
		return
	}
	log.Info("stopping "+c.name, "pid", c.proc.Pid())
	err := c.proc.Stop(syscall.SIGTERM, childStopTimeout)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		log.Info(c.name + " stopped")
	case errors.As(err, &exitErr):
		log.Warn(c.name+" stopped", "status", exitErr.ProcessState.String())
	default:
		log.Error("stop "+c.name, "err", err)
	}
}

func cmdRun(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("devstack run", flag.ContinueOnError)
	var f infraFlags
	envErr := f.register(fs)
	apiPath := fs.String("api", "", "path of the API binary (required)")
	workerPath := fs.String("worker", "", "path of the worker binary (required)")
	defPort, err := envInt("PORT", 8080)
	envErr = errors.Join(envErr, err)
	port := fs.Int("port", defPort, "HTTP port of the API (env PORT)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "devstack run:", err)
		return 2
	}
	if envErr != nil {
		fmt.Fprintln(os.Stderr, "devstack run:", envErr)
		return 2
	}
	if *apiPath == "" || *workerPath == "" {
		fmt.Fprintln(os.Stderr, "devstack run: -api and -worker are required")
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in, err := startInfra(ctx, log, f)
	if err != nil {
		log.Error("start infrastructure", "err", err)
		return 1
	}
	in.printEnv()

	env := append(os.Environ(),
		"MIGRATE_DATABASE_URL="+in.ownerURL,
		"KAFKA_BROKERS="+in.brokers,
		"PORT="+strconv.Itoa(*port),
	)
	workerEnv := append(env[:len(env):len(env)], "DATABASE_URL="+in.workerURL)
	apiEnv, demoToken, err := apiAuthEnv(append(env[:len(env):len(env)], "DATABASE_URL="+in.databaseURL), f.dataDir)
	if err != nil {
		log.Error("authentication set-up", "err", err)
		in.stop()
		return 1
	}
	var api, worker *child
	shutdown := func() {
		api.stop(log)
		worker.stop(log)
		in.stop()
	}
	if worker, err = startChild("worker", *workerPath, workerEnv); err != nil {
		log.Error("start worker", "err", err)
		shutdown()
		return 1
	}
	if api, err = startChild("api", *apiPath, apiEnv); err != nil {
		log.Error("start api", "err", err)
		shutdown()
		return 1
	}

	// exited reports a child that ended on its own.
	exited := func(c *child) int {
		log.Error(c.name+" exited on its own; stopping everything", "path", c.path, "status", c.proc.ExitStatus())
		shutdown()
		return 1
	}

	healthURL := fmt.Sprintf("http://127.0.0.1:%d/healthz", *port)
	healthCtx, cancelHealth := context.WithTimeout(ctx, healthTimeout)
	healthy := make(chan error, 1)
	go func() { healthy <- devstack.WaitHTTP(healthCtx, healthURL, nil) }()
	select {
	case err := <-healthy:
		cancelHealth()
		if err != nil {
			if ctx.Err() != nil {
				log.Info("stopping")
				shutdown()
				return 0
			}
			log.Error("api not healthy; stopping everything", "url", healthURL, "err", err)
			shutdown()
			return 1
		}
	case <-api.proc.Done():
		cancelHealth()
		return exited(api)
	case <-worker.proc.Done():
		cancelHealth()
		return exited(worker)
	}

	fmt.Printf("OrderStream is up: GraphQL http://localhost:%d/graphql (REST http://localhost:%d/orders); Ctrl-C stops everything\n", *port, *port)
	if os.Getenv("APP_ENV") != "production" && os.Getenv("GRAPHIQL") != "false" {
		fmt.Printf("GraphiQL: http://localhost:%d/ in a browser\n", *port)
	}
	if demoToken != "" {
		fmt.Printf("Demo bearer token (valid %s) for the demo user; paste these into your shell for the README examples:\nUSER_ID=%s\nTOKEN=%s\n",
			demoTokenTTL, demoUserID, demoToken)
	}

	select {
	case <-ctx.Done():
		log.Info("stopping")
		shutdown()
		return 0
	case <-api.proc.Done():
		return exited(api)
	case <-worker.proc.Done():
		return exited(worker)
	}
}

// apiAuthEnv returns the API's environment with authentication on, and a
// demo token when run knows the HS256 secret. An AUTH_JWT_SECRET in env is
// used as it is; with AUTH_JWKS_FILE only, or AUTH_DISABLED=true, env is
// left alone and there is no demo token; otherwise the development secret
// of dataDir (created on first use) is added.
func apiAuthEnv(env []string, dataDir string) (apiEnv []string, token string, err error) {
	secret := os.Getenv("AUTH_JWT_SECRET")
	if secret == "" {
		if os.Getenv("AUTH_JWKS_FILE") != "" || os.Getenv("AUTH_JWKS_URL") != "" || os.Getenv("AUTH_DISABLED") == "true" {
			return env, "", nil
		}
		if secret, err = devSecret(filepath.Join(dataDir, "dev-jwt-secret")); err != nil {
			return nil, "", err
		}
		env = append(env[:len(env):len(env)], "AUTH_JWT_SECRET="+secret)
	}
	token, err = auth.Mint([]byte(secret), auth.MintOptions{
		Subject: demoUserID, TTL: demoTokenTTL,
		Issuer: os.Getenv("AUTH_ISSUER"), Audience: os.Getenv("AUTH_AUDIENCE"),
	})
	if err == nil && os.Getenv("APP_ENV") != "production" {
		// GraphiQL on / opens with the demo token in its headers.
		env = append(env[:len(env):len(env)], "GRAPHIQL_DEMO_TOKEN="+token)
	}
	return env, token, err
}

// devSecret reads the development JWT secret at path, creating it (32
// random bytes, hex, mode 0600) when missing.
func devSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= auth.MinSecretLen {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the dev JWT secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the dev JWT secret: %w", err)
	}
	return s, nil
}
