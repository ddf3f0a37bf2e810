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
// orders, order-acks and orders-dlq, prints their addresses as
// DATABASE_URL=... (the API's login), WORKER_DATABASE_URL=...,
// MIGRATE_DATABASE_URL=... (the owner) and KAFKA_BROKERS=... lines on
// stdout and runs until SIGINT or SIGTERM.
//
// run does the same, then starts the worker and the API binaries on the
// stack launcher (internal/devstack), each configured from this process's
// environment (internal/config) with the stack's database (each its own
// login), broker, HOST and PORT laid over it (the worker's health endpoint
// on a free port unless HEALTH_PORT says which), waits until both are ready
// and runs until SIGINT or SIGTERM, or until a child exits on its own (exit
// status 1). Their output goes to stderr and to .data/api.log and
// .data/worker.log.
//
// Everything listens on 127.0.0.1 unless HOST (or -host) says otherwise:
// PostgreSQL (which still trusts only local logins) and the API. The
// in-process broker always listens on 127.0.0.1.
//
// The API runs with authentication on. Unless AUTH_JWT_SECRET, AUTH_JWKS_FILE
// or AUTH_DISABLED=true is set, run gives it a development HS256 secret
// (random, kept in .data/dev-jwt-secret) and, once the API is up, prints a
// bearer token valid 24 h for a demo user as USER_ID=... and TOKEN=... lines
// on stdout, so that the README's examples work by copy-paste. The API gets
// the same token as GRAPHIQL_DEMO_TOKEN, so that GraphiQL on / opens with it
// in its headers for loopback visitors (not when APP_ENV=production).
//
// Ports come from flags, defaulting to the environment variables PG_PORT
// (55432), KAFKA_PORT (9092), KAFKA_PARTITIONS (8) and PORT (8080)
// (config.Infra).
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
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/hostguard"
)

const (
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
	case "infra", "run":
		return command(log, args[0], args[1:])
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

// command parses the flags of infra or run, then runs Main until a signal
// (or, for run, until a child exits on its own).
func command(log *slog.Logger, name string, args []string) int {
	m, err := parseFlags(name, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack %s: %v\n", name, err)
		return 2
	}
	m.Log = log
	// Signals stay captured until we exit, so a second Ctrl-C cannot cut
	// the shutdown short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = m.Run(ctx)
	if err == nil {
		m.printReady()
		err = m.Wait(ctx)
	}
	if ctx.Err() != nil {
		log.Info("stopping")
	}
	m.Close()
	if err != nil && ctx.Err() == nil {
		log.Error(name, "err", err)
		return 1
	}
	return 0
}

// Main is the local stack: infrastructure and, with binaries given, the
// worker and the API.
type Main struct {
	Infra   config.Infra
	DataDir string
	// Kafka is the broker kind: kfake (in-process, keeps its data in
	// DataDir) or apache (a one-node Apache Kafka cluster, fresh each run).
	Kafka     string
	APIBin    string // "" for infra
	WorkerBin string
	Log       *slog.Logger

	stack       *devstack.Stack
	api, worker *devstack.Service
	demoToken   string
}

func parseFlags(name string, args []string) (*Main, error) {
	in, envErr := config.LoadInfra(config.OSEnv)
	m := &Main{Infra: in}
	fs := flag.NewFlagSet("devstack "+name, flag.ContinueOnError)
	fs.StringVar(&m.DataDir, "data", ".data", "directory for the PostgreSQL and Kafka data and the logs")
	fs.StringVar(&m.Infra.Host, "host", in.Host, "address PostgreSQL and the API listen on (env HOST)")
	fs.IntVar(&m.Infra.PGPort, "pg-port", in.PGPort, "PostgreSQL port (env PG_PORT)")
	fs.IntVar(&m.Infra.KafkaPort, "kafka-port", in.KafkaPort, "Kafka port (env KAFKA_PORT)")
	fs.IntVar(&m.Infra.Partitions, "partitions", in.Partitions, "partitions of the Kafka topics (env KAFKA_PARTITIONS)")
	fs.StringVar(&m.Kafka, "kafka", "kfake", "the broker: kfake (in-process, data in -data) or apache (Apache Kafka, one KRaft node, fresh each run; make kafka installs it)")
	if name == "run" {
		fs.StringVar(&m.APIBin, "api", "", "path of the API binary (required)")
		fs.StringVar(&m.WorkerBin, "worker", "", "path of the worker binary (required)")
		fs.IntVar(&m.Infra.Port, "port", in.Port, "HTTP port of the API (env PORT)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case envErr != nil:
		return nil, envErr
	case m.Kafka != "kfake" && m.Kafka != "apache":
		return nil, fmt.Errorf("-kafka %q: want kfake or apache", m.Kafka)
	case m.Infra.Partitions < 1:
		return nil, fmt.Errorf("partitions must be at least 1, not %d", m.Infra.Partitions)
	case name == "run" && (m.APIBin == "" || m.WorkerBin == ""):
		fs.Usage()
		return nil, errors.New("-api and -worker are required")
	}
	return m, nil
}

// Run starts PostgreSQL and the broker and, with binaries, the worker and
// the API. Close stops what it started, also after an error.
func (m *Main) Run(ctx context.Context) error {
	if err := m.startInfra(ctx); err != nil {
		return err
	}
	m.printEnv()
	if m.APIBin == "" {
		return nil
	}
	return m.startServices(ctx)
}

func (m *Main) startInfra(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, infraStartTimeout)
	defer cancel()
	if err := os.MkdirAll(m.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	var err error
	// With no Output, the server log goes to postgres.log next to the data
	// directory: .data/postgres.log.
	m.stack, err = devstack.StartStack(ctx, devstack.StackOptions{
		Dir:           m.DataDir,
		Postgres:      devstack.PostgresOptions{DataDir: filepath.Join(m.DataDir, "postgres"), Port: m.Infra.PGPort, Host: m.Infra.Host, Log: m.Log},
		BrokerOptions: m.brokerOptions(),
		APIBin:        m.APIBin, WorkerBin: m.WorkerBin, Log: m.Log,
		// Own process groups: a Ctrl-C reaches devstack only, which then
		// stops the children in order.
		Output: os.Stderr, DeathSignal: syscall.SIGTERM, ProcessGroup: true,
	})
	if err != nil {
		return fmt.Errorf("start infrastructure: %w\n(server log: %s)", err, filepath.Join(m.DataDir, "postgres.log"))
	}
	return nil
}

// brokerOptions are the broker -kafka asks for, on the Kafka port.
func (m *Main) brokerOptions() devstack.BrokerOptions {
	kopts := devstack.KafkaOptions{Port: m.Infra.KafkaPort, DataDir: filepath.Join(m.DataDir, "kafka"), Partitions: int32(m.Infra.Partitions), Log: m.Log}
	if m.Kafka == "apache" {
		return devstack.BrokerOptions{Kind: devstack.KindApache, Nodes: 1, Ports: []int{m.Infra.KafkaPort},
			Kafka: devstack.KafkaOptions{Partitions: kopts.Partitions, Log: m.Log}}
	}
	return devstack.BrokerOptions{Kind: devstack.KindKfake, Kafka: kopts}
}

// startServices starts the worker and the API from this process's
// environment with the stack laid over it.
func (m *Main) startServices(ctx context.Context) error {
	apiCfg, workerCfg, err := m.stack.ConfigsFrom(config.OSEnv)
	if err != nil {
		return err
	}
	apiCfg.Host, workerCfg.Host = m.Infra.Host, m.Infra.Host
	apiCfg.Port = strconv.Itoa(m.Infra.Port)
	if h := m.Infra.Host; h != "" && h != "0.0.0.0" && h != "::" && !hostguard.IsLoopback(h) {
		// Listening on that address, the API is reached by it (the
		// launcher's readiness probe first).
		apiCfg.AllowedHosts = append(apiCfg.AllowedHosts, h)
	}
	if m.demoToken, err = m.devAuth(&apiCfg); err != nil {
		return fmt.Errorf("authentication set-up: %w", err)
	}
	if m.worker, err = m.stack.StartWorker(ctx, "worker", workerCfg); err != nil {
		return err
	}
	if m.api, err = m.stack.StartAPI(ctx, "api", apiCfg); err != nil {
		return err
	}
	return nil
}

// devAuth turns authentication on for the API and returns a demo token
// when run knows the HS256 secret. An AUTH_JWT_SECRET in the environment is
// used as it is; with a JWKS only, or AUTH_DISABLED=true, the configuration
// is left alone and there is no demo token; otherwise the development
// secret of the data directory (created on first use) is used.
func (m *Main) devAuth(c *config.API) (string, error) {
	a := &c.Auth
	if a.JWTSecret == "" {
		if a.JWKSFile != "" || a.JWKSURL != "" || a.Disabled {
			return "", nil
		}
		secret, err := devSecret(filepath.Join(m.DataDir, "dev-jwt-secret"))
		if err != nil {
			return "", err
		}
		a.JWTSecret = secret
	}
	token, err := auth.Mint([]byte(a.JWTSecret), auth.MintOptions{Subject: demoUserID, TTL: demoTokenTTL, Issuer: a.Issuer, Audience: a.Audience})
	if err == nil && !c.Production() {
		c.GraphiQLToken = token // GraphiQL on / opens with it, for loopback visitors
	}
	return token, err
}

// Wait returns when ctx ends (nil) or a child exits on its own.
func (m *Main) Wait(ctx context.Context) error {
	if m.api == nil {
		<-ctx.Done()
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-m.api.Done():
		return fmt.Errorf("the API exited on its own (%s); stopping everything", m.api.Process().ExitStatus())
	case <-m.worker.Done():
		return fmt.Errorf("the worker exited on its own (%s); stopping everything", m.worker.Process().ExitStatus())
	}
}

// Close stops the API, the worker, the broker and PostgreSQL, in that order.
func (m *Main) Close() error {
	if m.stack == nil {
		return nil
	}
	err := m.stack.Close()
	if err != nil {
		m.Log.Warn("stop", "err", err)
	}
	m.Log.Info("stopped")
	return err
}

func (m *Main) printEnv() {
	s := m.stack
	fmt.Printf("DATABASE_URL=%s\nWORKER_DATABASE_URL=%s\nMIGRATE_DATABASE_URL=%s\nKAFKA_BROKERS=%s\n",
		s.DB.API, s.DB.Worker, s.DB.Owner, strings.Join(s.Brokers(), ","))
}

func (m *Main) printReady() {
	if m.api == nil {
		m.Log.Info("infrastructure is up; Ctrl-C stops it")
		return
	}
	base := m.api.URL()
	fmt.Printf("OrderStream is up: GraphQL %s/graphql (REST %s/orders); Ctrl-C stops everything\n", base, base)
	if os.Getenv("APP_ENV") != "production" && os.Getenv("GRAPHIQL") != "false" {
		fmt.Printf("GraphiQL: %s/ in a browser\n", base)
	}
	if m.demoToken != "" {
		fmt.Printf("Demo bearer token (valid %s) for the demo user; paste these into your shell for the README examples:\nUSER_ID=%s\nTOKEN=%s\n",
			demoTokenTTL, demoUserID, m.demoToken)
	}
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
