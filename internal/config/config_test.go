package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	a := DefaultAPI()
	if a.Port != "8080" || a.DatabaseURL != DefaultDatabaseURL || a.DBMaxConns != 32 || a.AckTimeout != 30*time.Second ||
		a.ShutdownTimeout != 35*time.Second || a.DrainDelay != 5*time.Second || a.RecoveryDelay != 5*time.Second ||
		a.GraphQL.MaxDepth != 10 || a.GraphQL.TokenLimit != 15000 || !a.GraphQL.Introspection || !a.GraphiQL ||
		a.ReplyPartition != -1 || !reflect.DeepEqual(a.Brokers, []string{"127.0.0.1:9092"}) || a.Host != "" ||
		a.CreateBatchInFlight != 1 || a.LookupBatchInFlight != 2 || a.BatchStallAfter != 10*time.Millisecond {
		t.Errorf("API defaults: %+v", a)
	}
	w := DefaultWorker()
	if w.DBMaxConns != 16 || w.BatchSize != 256 || w.MaxAttempts != 5 || w.Group != "orderstream-worker" || w.DLQTopic != "orders-dlq" || w.MergeLoops != 1 ||
		w.MergeStall != 10*time.Millisecond {
		t.Errorf("worker defaults: %+v", w)
	}
	in, err := LoadInfra(Lines())
	if err != nil || in != (Infra{Host: "127.0.0.1", PGPort: 55432, KafkaPort: 9092, Partitions: 8, Port: 8080}) {
		t.Errorf("infra defaults: %+v, %v", in, err)
	}
}

// TestEveryBadVariable: one error names all of them.
func TestEveryBadVariable(t *testing.T) {
	_, err := LoadAPI(Lines("ACK_TIMEOUT=soon", "DB_MAX_CONNS=many", "PPROF=yes", "SHUTDOWN_DRAIN_DELAY=-1s", "RECOVERY_DELAY=0"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"ACK_TIMEOUT", "DB_MAX_CONNS", "PPROF", "SHUTDOWN_DRAIN_DELAY", "RECOVERY_DELAY"} {
		if !strings.Contains(err.Error(), name+"=") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if _, err := LoadAPI(Lines("SHUTDOWN_DRAIN_DELAY=0")); err != nil {
		t.Errorf("SHUTDOWN_DRAIN_DELAY=0: %v; want allowed", err)
	}
	if _, err := LoadAPI(Lines("APP_ENV=production", "GRAPHIQL_DEMO_TOKEN=x")); err == nil || !strings.Contains(err.Error(), "GRAPHIQL_DEMO_TOKEN") {
		t.Errorf("demo token in production: %v; want refused", err)
	}
	if _, err := LoadWorker(Lines("MAX_ATTEMPTS=x", "STARTUP_TIMEOUT=x")); err == nil ||
		!strings.Contains(err.Error(), "MAX_ATTEMPTS") || !strings.Contains(err.Error(), "STARTUP_TIMEOUT") {
		t.Errorf("worker: %v; want both named", err)
	}
}

// TestDerivedDefaults: production hides introspection and GraphiQL, and the
// shutdown timeout follows the ACK timeout, unless set.
func TestDerivedDefaults(t *testing.T) {
	c, err := LoadAPI(Lines("APP_ENV=production", "ACK_TIMEOUT=10s"))
	if err != nil || c.GraphQL.Introspection || c.GraphiQL || c.ShutdownTimeout != 15*time.Second {
		t.Errorf("production: %+v, %v", c, err)
	}
	c, _ = LoadAPI(Lines("APP_ENV=production", "GRAPHQL_INTROSPECTION=true", "SHUTDOWN_TIMEOUT=1m"))
	if !c.GraphQL.Introspection || c.ShutdownTimeout != time.Minute {
		t.Errorf("explicit values: %+v", c)
	}
	// A rendered development configuration does not pin the derived
	// defaults: APP_ENV=production added later still hides the schema.
	c, _ = LoadAPI(Lines(append(DefaultAPI().Env(), "APP_ENV=production", "ACK_TIMEOUT=2s")...))
	if c.GraphQL.Introspection || c.GraphiQL || c.ShutdownTimeout != 7*time.Second {
		t.Errorf("development lines + production: %+v", c)
	}
}

// TestRoundTrip: what Env renders loads back to the same struct.
func TestRoundTrip(t *testing.T) {
	a := DefaultAPI()
	a.Host, a.Port, a.Brokers, a.AckTimeout, a.DrainDelay = "127.0.0.1", "9999", []string{"a:1", "b:2"}, 3*time.Second, 0
	a.Auth.Disabled, a.CORSOrigins, a.AppEnv, a.GraphQL.Introspection = true, []string{"https://x.example"}, "production", true
	got, err := LoadAPI(Lines(a.Env()...))
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("API round trip:\n got %+v, %v\nwant %+v", got, err, a)
	}
	w := DefaultWorker()
	w.Group, w.HealthPort, w.MergeLoops = "g", "1234", 0
	gotW, err := LoadWorker(Lines(w.Env()...))
	if err != nil || !reflect.DeepEqual(gotW, w) {
		t.Errorf("worker round trip:\n got %+v, %v\nwant %+v", gotW, err, w)
	}
}

// TestNames: every rendered line is a known name, and Without drops them.
func TestNames(t *testing.T) {
	names := APINames()
	for _, kv := range DefaultAPI().Env() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			t.Errorf("%s rendered but not named", k)
		}
	}
	for _, want := range []string{"SHUTDOWN_DRAIN_DELAY", "HOST", "ALLOWED_HOSTS", "GRAPHQL_INTROSPECTION"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from APINames", want)
		}
	}
	if got := Without([]string{"PATH=/bin", "ACK_TIMEOUT=1s", "OTEL_X=1"}, names); !reflect.DeepEqual(got, []string{"PATH=/bin", "OTEL_X=1"}) {
		t.Errorf("Without: %v", got)
	}
	if !slices.Contains(WorkerNames(), "WORKER_BATCH_SIZE") {
		t.Error("WORKER_BATCH_SIZE missing from WorkerNames")
	}
}
