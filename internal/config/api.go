package config

import (
	"errors"
	"time"

	"github.com/orderstream/orderstream/internal/auth"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

// Common are the settings of both the API and the worker.
type Common struct {
	// Host is the address the process listens on (HOST; "" = every
	// interface). `make run` sets 127.0.0.1.
	Host        string
	DatabaseURL string // DATABASE_URL: a login that row-level security binds
	// MigrateURL is the tables' owner, used only to apply the migrations
	// (MIGRATE_DATABASE_URL; "" = DatabaseURL).
	MigrateURL  string
	DBMaxConns  int      // DB_MAX_CONNS
	Brokers     []string // KAFKA_BROKERS
	OrdersTopic string   // KAFKA_ORDERS_TOPIC
	AcksTopic   string   // KAFKA_ACKS_TOPIC: where the worker answers, the only topic it answers on
	// KafkaMaxMessageBytes is the largest message the processes produce
	// (KAFKA_MAX_MESSAGE_BYTES); orders whose ACK could exceed it are
	// refused at validation. It must not exceed the broker's
	// message.max.bytes (Kafka's default: 1048588).
	KafkaMaxMessageBytes int
	// The topics: their partition count (KAFKA_PARTITIONS; the modulo
	// partitioner's N, so every process must agree and a topic with another
	// count is refused), and, for topics a process creates
	// (KAFKA_CREATE_TOPICS; false only verifies), their replication factor
	// and min.insync.replicas (KAFKA_REPLICATION_FACTOR,
	// KAFKA_MIN_INSYNC_REPLICAS; 0: 3 and 2 on three or more brokers, 1 and
	// 1 below).
	KafkaPartitions        int
	KafkaCreateTopics      bool
	KafkaReplicationFactor int
	KafkaMinInsyncReplicas int
	StartupTimeout         time.Duration // STARTUP_TIMEOUT: how long start-up waits for PostgreSQL and Kafka
	LogLevel               string        // LOG_LEVEL
}

func (c *Common) bind(b *binder, dbMaxConns int) {
	b.str(&c.Host, "HOST", "")
	b.str(&c.DatabaseURL, "DATABASE_URL", DefaultDatabaseURL)
	b.str(&c.MigrateURL, "MIGRATE_DATABASE_URL", "")
	b.integer(&c.DBMaxConns, "DB_MAX_CONNS", dbMaxConns)
	b.list(&c.Brokers, "KAFKA_BROKERS", DefaultBrokers)
	b.str(&c.OrdersTopic, "KAFKA_ORDERS_TOPIC", DefaultOrdersTopic)
	b.str(&c.AcksTopic, "KAFKA_ACKS_TOPIC", DefaultAcksTopic)
	b.integer(&c.KafkaMaxMessageBytes, "KAFKA_MAX_MESSAGE_BYTES", DefaultKafkaMaxMessageBytes)
	b.integer(&c.KafkaPartitions, "KAFKA_PARTITIONS", DefaultPartitions)
	b.boolean(&c.KafkaCreateTopics, "KAFKA_CREATE_TOPICS", true)
	b.integer(&c.KafkaReplicationFactor, "KAFKA_REPLICATION_FACTOR", 0)
	b.integer(&c.KafkaMinInsyncReplicas, "KAFKA_MIN_INSYNC_REPLICAS", 0)
	b.duration(&c.StartupTimeout, "STARTUP_TIMEOUT", DefaultStartupTimeout)
	b.str(&c.LogLevel, "LOG_LEVEL", "info")
}

// Topics returns the specs of topics, with the partitions and replication
// of c (kafka.EnsureTopics).
func (c Common) Topics(topics ...string) []kafka.TopicSpec {
	specs := make([]kafka.TopicSpec, len(topics))
	for i, t := range topics {
		specs[i] = kafka.TopicSpec{Name: t, Partitions: int32(c.KafkaPartitions),
			ReplicationFactor: int16(c.KafkaReplicationFactor), MinInsyncReplicas: int16(c.KafkaMinInsyncReplicas)}
	}
	return specs
}

// API is the API's configuration (server.go). The README's configuration
// table documents each variable.
type API struct {
	Common
	Port string // PORT
	// AppEnv is APP_ENV: "production" hides the schema and GraphiQL by
	// default and refuses a database role that row-level security does not
	// bind; anything else is development.
	AppEnv         string
	InstanceID     string        // INSTANCE_ID ("": the hostname and a random suffix, made at start)
	ReplyPartition int           // REPLY_PARTITION (-1: hashed from InstanceID)
	AckTimeout     time.Duration // ACK_TIMEOUT
	// ProduceTimeout bounds the wait for Kafka to store an event before the
	// request gets UNAVAILABLE (KAFKA_PRODUCE_TIMEOUT; the event is stored).
	ProduceTimeout time.Duration
	RecoveryDelay  time.Duration // RECOVERY_DELAY
	// CreateBatchMax is the most creates the API stores with one statement
	// and one commit (DB_CREATE_BATCH_MAX; 1: each alone), and
	// CreateBatchInFlight how many such statements run at once
	// (DB_CREATE_BATCH_IN_FLIGHT); internal/postgres/combine.go.
	CreateBatchMax      int
	CreateBatchInFlight int
	// LookupBatchMax is the most lookups (orderByExternalId, GET
	// /orders/by-external) the API answers with one statement
	// (DB_LOOKUP_BATCH_MAX; 1: each alone), and LookupBatchInFlight how
	// many such statements run at once (DB_LOOKUP_BATCH_IN_FLIGHT);
	// internal/postgres/lookups.go.
	LookupBatchMax      int
	LookupBatchInFlight int
	// BatchStallAfter is how long a statement of gathered creates or
	// lookups may run before another may start beside it, whatever the
	// in-flight limit (DB_BATCH_STALL; 0: never); internal/postgres/gather.go.
	BatchStallAfter time.Duration
	RecoveryEvery   time.Duration // RECOVERY_INTERVAL
	RecoveryMax     time.Duration // RECOVERY_MAX_BACKOFF
	// ShutdownTimeout bounds the wait for in-flight requests after SIGTERM
	// (SHUTDOWN_TIMEOUT; default AckTimeout + 5 s).
	ShutdownTimeout time.Duration
	// DrainDelay is how long the API keeps serving after SIGTERM with
	// /readyz answering 503, so that load balancers stop sending to it
	// before the listener closes (SHUTDOWN_DRAIN_DELAY; 0 in tests).
	DrainDelay time.Duration
	// CrashAfterCommits makes the API SIGKILL itself right after its n-th
	// committed event, before sending it (FAULT_CRASH_AFTER_COMMITS; fault
	// suite only; 0 = never).
	CrashAfterCommits int
	// Pprof serves net/http/pprof on /debug/pprof/ (PPROF).
	Pprof   bool
	GraphQL GraphQL
	// CORSOrigins are the browser origins allowed to call the API
	// (CORS_ALLOWED_ORIGINS).
	CORSOrigins []string
	// AllowedHosts are the Host header names accepted in development
	// besides localhost, 127.0.0.1 and [::1] (ALLOWED_HOSTS): DNS-rebinding
	// protection. Production leaves the Host check to the reverse proxy.
	AllowedHosts []string
	RateLimitRPS int // RATE_LIMIT_RPS (0: no limit)
	RateBurst    int // RATE_LIMIT_BURST
	// ReadTimeout bounds reading a whole request (HTTP_READ_TIMEOUT).
	ReadTimeout time.Duration
	Auth        Auth
	// GraphiQL serves the GraphiQL IDE on / (GRAPHIQL; default: not in
	// production).
	GraphiQL bool
	// GraphiQLToken is prefilled in GraphiQL's headers for loopback
	// visitors (GRAPHIQL_DEMO_TOKEN; development only).
	GraphiQLToken string
}

// GraphQL bounds requests (GRAPHQL_*) and configures subscriptions (WS_*).
type GraphQL struct {
	MaxDepth      int // GRAPHQL_MAX_DEPTH
	MaxFields     int // GRAPHQL_MAX_FIELDS
	MaxComplexity int // GRAPHQL_MAX_COMPLEXITY
	TokenLimit    int // GRAPHQL_TOKEN_LIMIT
	// MaxResponseBytes bounds each response (GRAPHQL_MAX_RESPONSE_BYTES).
	MaxResponseBytes int
	Introspection    bool // GRAPHQL_INTROSPECTION (default: not in production)
	// WSPingInterval is WS_PING_INTERVAL, WSMaxSubscriptions WS_MAX_SUBSCRIPTIONS.
	WSPingInterval     time.Duration
	WSMaxSubscriptions int
}

// Auth is how requests authenticate: an HS256 secret and/or RS256/ES256
// keys from a JWKS file or URL.
type Auth struct {
	JWTSecret           string        // AUTH_JWT_SECRET
	JWKSFile            string        // AUTH_JWKS_FILE
	JWKSURL             string        // AUTH_JWKS_URL
	JWKSRefresh         time.Duration // AUTH_JWKS_REFRESH_INTERVAL
	JWKSUnknownKIDEvery time.Duration // AUTH_JWKS_UNKNOWN_KID_INTERVAL
	Issuer              string        // AUTH_ISSUER
	Audience            string        // AUTH_AUDIENCE
	// Disabled runs without authentication (AUTH_DISABLED; tests and
	// benchmarks only); ignored when a key is set.
	Disabled bool
}

// Production reports APP_ENV=production.
func (c API) Production() bool { return c.AppEnv == "production" }

func (c *API) bind(b *binder) {
	c.Common.bind(b, 32)
	b.str(&c.Port, "PORT", "8080")
	b.str(&c.AppEnv, "APP_ENV", "development")
	b.str(&c.InstanceID, "INSTANCE_ID", "")
	b.integer(&c.ReplyPartition, "REPLY_PARTITION", -1)
	b.duration(&c.AckTimeout, "ACK_TIMEOUT", DefaultAckTimeout)
	b.duration(&c.ProduceTimeout, "KAFKA_PRODUCE_TIMEOUT", DefaultProduceTimeout)
	b.duration(&c.RecoveryDelay, "RECOVERY_DELAY", DefaultRecoveryDelay)
	b.integer(&c.CreateBatchMax, "DB_CREATE_BATCH_MAX", DefaultCreateBatchMax)
	b.integer(&c.CreateBatchInFlight, "DB_CREATE_BATCH_IN_FLIGHT", DefaultCreateBatchInFlight)
	b.integer(&c.LookupBatchMax, "DB_LOOKUP_BATCH_MAX", DefaultLookupBatchMax)
	b.integer(&c.LookupBatchInFlight, "DB_LOOKUP_BATCH_IN_FLIGHT", DefaultLookupBatchInFlight)
	b.duration(&c.BatchStallAfter, "DB_BATCH_STALL", DefaultBatchStallAfter, zeroOK)
	b.duration(&c.RecoveryEvery, "RECOVERY_INTERVAL", order.DefaultRecoveryInterval)
	b.duration(&c.RecoveryMax, "RECOVERY_MAX_BACKOFF", order.DefaultRecoveryMaxBackoff)
	b.duration(&c.ShutdownTimeout, "SHUTDOWN_TIMEOUT", c.AckTimeout+5*time.Second, derived)
	b.duration(&c.DrainDelay, "SHUTDOWN_DRAIN_DELAY", DefaultDrainDelay, zeroOK)
	b.integer(&c.CrashAfterCommits, "FAULT_CRASH_AFTER_COMMITS", 0)
	b.boolean(&c.Pprof, "PPROF", false)
	g := &c.GraphQL
	b.integer(&g.MaxDepth, "GRAPHQL_MAX_DEPTH", DefaultGraphQLMaxDepth)
	b.integer(&g.MaxFields, "GRAPHQL_MAX_FIELDS", DefaultGraphQLMaxFields)
	b.integer(&g.MaxComplexity, "GRAPHQL_MAX_COMPLEXITY", DefaultGraphQLMaxComplexity)
	b.integer(&g.TokenLimit, "GRAPHQL_TOKEN_LIMIT", DefaultGraphQLTokenLimit)
	b.integer(&g.MaxResponseBytes, "GRAPHQL_MAX_RESPONSE_BYTES", DefaultGraphQLMaxResponseBytes)
	b.boolean(&g.Introspection, "GRAPHQL_INTROSPECTION", !c.Production(), derived)
	b.duration(&g.WSPingInterval, "WS_PING_INTERVAL", 25*time.Second)
	b.integer(&g.WSMaxSubscriptions, "WS_MAX_SUBSCRIPTIONS", 100)
	b.list(&c.CORSOrigins, "CORS_ALLOWED_ORIGINS", nil)
	b.list(&c.AllowedHosts, "ALLOWED_HOSTS", nil)
	b.integer(&c.RateLimitRPS, "RATE_LIMIT_RPS", 20)
	b.integer(&c.RateBurst, "RATE_LIMIT_BURST", 40)
	b.duration(&c.ReadTimeout, "HTTP_READ_TIMEOUT", 30*time.Second)
	a := &c.Auth
	b.str(&a.JWTSecret, "AUTH_JWT_SECRET", "")
	b.str(&a.JWKSFile, "AUTH_JWKS_FILE", "")
	b.str(&a.JWKSURL, "AUTH_JWKS_URL", "")
	b.duration(&a.JWKSRefresh, "AUTH_JWKS_REFRESH_INTERVAL", auth.DefaultJWKSRefresh)
	b.duration(&a.JWKSUnknownKIDEvery, "AUTH_JWKS_UNKNOWN_KID_INTERVAL", auth.DefaultJWKSUnknownKIDEvery)
	b.str(&a.Issuer, "AUTH_ISSUER", "")
	b.str(&a.Audience, "AUTH_AUDIENCE", "")
	b.boolean(&a.Disabled, "AUTH_DISABLED", false)
	b.boolean(&c.GraphiQL, "GRAPHIQL", !c.Production(), derived)
	b.str(&c.GraphiQLToken, "GRAPHIQL_DEMO_TOKEN", "")
}

// LoadAPI reads the API's configuration from get (nil: the process
// environment). The error names every bad variable.
func LoadAPI(get Lookup) (API, error) {
	c, err := load[API](get)
	if c.Production() && c.GraphiQLToken != "" {
		err = errors.Join(err, errors.New("GRAPHIQL_DEMO_TOKEN is for development only: unset it when APP_ENV=production"))
	}
	return c, err
}

// DefaultAPI is the API's configuration with every default.
func DefaultAPI() API {
	c, _ := LoadAPI(Lines())
	return c
}

// Env renders c as environment lines, one per variable (a variable whose
// default is derived from another setting is left out while it has that
// default). LoadAPI(Lines(c.Env()...)) gives c back.
func (c API) Env() []string { return renderOf(c.bind) }

// APINames lists the variables of API.
func APINames() []string { return nameList[API]() }
