package devstack_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

// testDir returns a directory removed after the test that the postgres
// system user can reach (t.TempDir is 0700 below a 0700 directory).
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startPostgres(t *testing.T, dataDir string, port int) *devstack.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dataDir, Port: port, Fast: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	return pg
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := filepath.Join(testDir(t), "pg")
	pg := startPostgres(t, dataDir, 0)

	if pg.Port() == 0 {
		t.Fatal("Port() = 0")
	}
	var one int
	if err := connect(t, pg.URL("postgres")).QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1 = %d, %v", one, err)
	}

	for range 2 {
		if err := pg.CreateDatabase(ctx, "app", ""); err != nil {
			t.Fatalf("CreateDatabase (idempotent): %v", err)
		}
	}
	app := connect(t, pg.URL("app"))
	if _, err := app.Exec(ctx, "create table kept (v text); insert into kept values ('survives')"); err != nil {
		t.Fatal(err)
	}
	app.Close(ctx)
	if err := pg.CreateDatabase(ctx, "app_copy", "app"); err != nil {
		t.Fatalf("CreateDatabase from template: %v", err)
	}

	// A second server on a data directory in use fails, showing the log.
	_, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dataDir, Fast: true})
	if err == nil || !strings.Contains(err.Error(), "postmaster.pid") {
		t.Fatalf("second server on the same data directory: err = %v, want the lock file error from the server log", err)
	}

	port := pg.Port()
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// A port in use is reported with the server's own words.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dataDir, Port: ln.Addr().(*net.TCPAddr).Port, Fast: true})
	ln.Close()
	if err == nil || !strings.Contains(err.Error(), "could not bind") {
		t.Fatalf("server on a busy port: err = %v, want could not bind", err)
	}

	// A new server on the same data directory keeps the data.
	pg2 := startPostgres(t, dataDir, port)
	for _, db := range []string{"app", "app_copy"} {
		var v string
		if err := connect(t, pg2.URL(db)).QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != "survives" {
			t.Fatalf("%s after restart: v = %q, %v", db, v, err)
		}
	}

	// Restart keeps port and data.
	if err := pg2.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if pg2.Port() != port {
		t.Fatalf("port after Restart = %d, want %d", pg2.Port(), port)
	}
	var n int
	if err := connect(t, pg2.URL("app")).QueryRow(ctx, "select count(*) from kept").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after Restart: count = %d, %v", n, err)
	}
}

func TestPostgresBinariesNotFound(t *testing.T) {
	t.Parallel()
	_, err := devstack.StartPostgres(t.Context(), devstack.PostgresOptions{DataDir: filepath.Join(testDir(t), "pg"), BinDir: testDir(t)})
	if err == nil {
		t.Fatal("StartPostgres with an empty BinDir succeeded")
	}
	t.Log(err)
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	return cfg
}

func produce(t *testing.T, brokers []string, topic string, partition int32, value string) int64 {
	t.Helper()
	producer, err := sarama.NewSyncProducer(brokers, saramaConfig())
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer producer.Close()
	gotPart, offset, err := producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Partition: partition, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(value),
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if gotPart != partition {
		t.Fatalf("produced to partition %d, want %d", gotPart, partition)
	}
	return offset
}

func consumeOne(t *testing.T, brokers []string, topic string, partition int32, offset int64) string {
	t.Helper()
	consumer, err := sarama.NewConsumer(brokers, saramaConfig())
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	select {
	case msg := <-pc.Messages():
		return string(msg.Value)
	case err := <-pc.Errors():
		t.Fatalf("consume: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return ""
}

func checkTopics(t *testing.T, brokers []string, want map[string]int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for name, parts := range want {
		if got := topics[name].NumPartitions; got != int32(parts) {
			t.Errorf("topic %s has %d partitions, want %d", name, got, parts)
		}
	}
}

func TestKafka(t *testing.T) {
	t.Parallel()
	k, err := devstack.StartKafka(devstack.KafkaOptions{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.Cluster() == nil || len(k.Brokers()) != 1 {
		t.Fatalf("Cluster() = %v, Brokers() = %v", k.Cluster(), k.Brokers())
	}
	checkTopics(t, k.Brokers(), map[string]int{"orders": 8, "order-acks": 8})

	offset := produce(t, k.Brokers(), "orders", 3, "hello")
	if got := consumeOne(t, k.Brokers(), "orders", 3, offset); got != "hello" {
		t.Fatalf("consumed %q, want hello", got)
	}
	k.Close()
	k.Close() // safe twice
}

func TestKafkaDataDirSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testDir(t), "kafka")
	k, err := devstack.StartKafka(devstack.KafkaOptions{DataDir: dir, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	brokers := k.Brokers()
	offset := produce(t, brokers, "orders", 3, "persisted")
	k.Close()

	port := portOf(t, brokers[0])
	// Restart on the same port and data directory with other partitions:
	// refused, since orders would move to other partitions.
	_, err = devstack.StartKafka(devstack.KafkaOptions{Port: port, DataDir: dir, Partitions: 12, Log: testLog(t)})
	var pce *kafka.PartitionCountError
	if !errors.As(err, &pce) || pce.Topic != "orders" || pce.Have != 8 || pce.Want != 12 {
		t.Fatalf("restart with 12 partitions: err = %v, want a PartitionCountError for orders (8, want 12)", err)
	}
	// Again with the same partitions and one more topic, which the
	// persisted state lacks.
	k, err = devstack.StartKafka(devstack.KafkaOptions{
		Port: port, DataDir: dir,
		Topics: []string{"orders", "order-acks", "extra"}, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if !slices.Equal(k.Brokers(), brokers) {
		t.Fatalf("brokers after restart = %v, want %v", k.Brokers(), brokers)
	}
	if got := consumeOne(t, k.Brokers(), "orders", 3, offset); got != "persisted" {
		t.Fatalf("consumed %q after restart, want persisted", got)
	}
	checkTopics(t, k.Brokers(), map[string]int{"orders": 8, "order-acks": 8, "extra": 8})
}

func portOf(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// TestPostgresCrashWithBusyBackends: Crash kills every server process at
// once and starts the server again, also when backends are busy. A
// CPU-bound backend notices its postmaster's death only when it next waits,
// and backends leave the postmaster's process group (setsid), so killing
// the group alone left them holding the shared memory, and the new server
// refused to start ("pre-existing shared memory block is still in use").
func TestPostgresCrashWithBusyBackends(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pg := startPostgres(t, filepath.Join(testDir(t), "pg"), 0)
	for round := range 2 {
		for range 3 {
			conn, err := pgx.Connect(ctx, pg.URL("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			go conn.Exec(context.WithoutCancel(ctx), "SELECT count(*) FROM generate_series(1, 1000000000)") //nolint:errcheck // killed
		}
		time.Sleep(300 * time.Millisecond) // the queries run
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := pg.Crash(cctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var one int
		if err := connect(t, pg.URL("postgres")).QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("round %d after the crash: select 1 = %d, %v", round, one, err)
		}
	}
}
