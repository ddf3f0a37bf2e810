// Package kafkatest gives tests a Kafka broker with fresh topics.
//
// Import it only from _test files. Which broker New gives is chosen by the
// environment:
//
//   - by default, each New starts an in-memory, in-process kfake broker
//     (fast; no replication, see docs/KAFKA.md for what it hides);
//   - KAFKA_KIND=apache: the first New of the test binary starts one
//     Apache Kafka node (internal/devstack.StartApacheKafka, the jars of
//     `make kafka`), and every New gets uniquely named topics on it;
//     KAFKA_KIND=apache3 does the same on a three-node cluster (replication
//     factor 3, min.insync.replicas 2);
//   - KAFKA_BROKERS (a comma-separated host:port list) points every New at
//     an existing cluster, with uniquely named topics, whatever KAFKA_KIND
//     says.
//
// Topics on a shared cluster are deleted when the test ends. A package
// whose tests may run on a shared Apache cluster stops it from its
// TestMain, with Main or with Shutdown as a cleanup of pgtest.Main:
//
//	func TestMain(m *testing.M) { kafkatest.Main(m) }
//	func TestMain(m *testing.M) { pgtest.Main(m, kafkatest.Shutdown) }
//
// Without that hook the JVMs still die with the test binary (they are sent
// SIGKILL when it exits), but their temporary directory is left behind.
//
// NewApache gives fresh topics on the shared Apache cluster whatever
// KAFKA_KIND says, for tests that must run on the real broker; NewCluster
// gives a test a cluster of its own, with node control, for fault tests.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

// Environment variables that choose the broker.
const (
	// EnvBrokers points the harness at an existing Kafka cluster.
	EnvBrokers = "KAFKA_BROKERS"
	// EnvKind chooses the broker New starts: "kfake" (or empty), KindApache
	// or KindApache3.
	EnvKind = "KAFKA_KIND"
)

// Values of KAFKA_KIND.
const (
	KindKfake   = "kfake"
	KindApache  = "apache"  // one Apache Kafka node per test binary
	KindApache3 = "apache3" // three Apache Kafka nodes per test binary
)

// Partitions is the partition count of the topics New creates.
const Partitions int32 = devstack.DefaultPartitions

// startTimeout bounds the start of a cluster (the class-data archive of the
// JVMs is built by the first start on a machine, which takes longer).
const startTimeout = 3 * time.Minute

// Broker is a Kafka cluster with an orders topic and an acks topic for one
// test.
type Broker struct {
	// Brokers are the bootstrap addresses.
	Brokers []string
	// OrdersTopic and AcksTopic are the topics to use in place of "orders"
	// and "order-acks".
	OrdersTopic, AcksTopic string
	// DLQTopic is the dead-letter topic in place of "orders-dlq".
	DLQTopic string
	// Partitions is the partition count of both topics.
	Partitions int32
	// Kind is KindKfake, KindApache, KindApache3, or "external" with
	// KAFKA_BROKERS.
	Kind string
	// Cluster is the in-process kfake cluster, for fault injection; nil on
	// any other broker.
	Cluster *kfake.Cluster
}

// New returns a broker for t, closed (or its topics deleted) when the test
// ends. It fails the test if no broker can be had; it never skips.
func New(t testing.TB) *Broker {
	t.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return withTopics(t, splitBrokers(env), "external")
	}
	switch kind := os.Getenv(EnvKind); kind {
	case "", KindKfake:
	case KindApache:
		return NewApache(t, 1)
	case KindApache3:
		return NewApache(t, 3)
	default:
		t.Fatalf("kafkatest: %s=%q: want %s, %s or %s", EnvKind, kind, KindKfake, KindApache, KindApache3)
	}
	k, err := devstack.StartKafka(devstack.KafkaOptions{Partitions: Partitions})
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(k.Close)
	return &Broker{
		Brokers:     k.Brokers(),
		OrdersTopic: devstack.DefaultOrdersTopic,
		AcksTopic:   devstack.DefaultAcksTopic,
		DLQTopic:    devstack.DefaultDLQTopic,
		Partitions:  Partitions,
		Kind:        KindKfake,
		Cluster:     k.Cluster(),
	}
}

// NewApache returns fresh topics, deleted when the test ends, on the Apache
// Kafka cluster of nodes nodes (1 or 3) that the tests of this binary
// share, starting it on first use. A test must not stop or pause its nodes:
// NewCluster gives a cluster of its own.
func NewApache(t testing.TB, nodes int) *Broker {
	t.Helper()
	k, err := sharedCluster(nodes)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	kind := KindApache
	if nodes == 3 {
		kind = KindApache3
	}
	t.Cleanup(func() {
		if t.Failed() {
			markFailed(nodes)
			t.Logf("kafkatest: the shared %d-node Apache Kafka cluster keeps its node logs in %s when the test binary ends",
				nodes, devstack.ArtifactsDir())
		}
	})
	return withTopics(t, k.Brokers(), kind)
}

// NewCluster starts an Apache Kafka cluster of nodes nodes for t alone
// (QuickStart JVMs, fresh storage), closed when the test ends. If the test
// failed, the nodes' logs are copied under devstack.ArtifactsDir() first and
// their path logged.
func NewCluster(t testing.TB, nodes int) *devstack.ApacheKafka {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	k, err := devstack.StartApacheKafka(ctx, devstack.ApacheOptions{Nodes: nodes, QuickStart: true})
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dir, err := k.SaveLogs(artifactName(t.Name()))
			if err != nil {
				t.Logf("kafkatest: keep node logs: %v", err)
			}
			t.Logf("kafkatest: Apache Kafka node logs kept in %s", dir)
		}
		k.Close()
	})
	return k
}

// Topics creates uniquely named orders, acks and DLQ topics for t on the
// cluster at brokers (partitions, replication and min.insync.replicas as
// New's) and deletes them when the test ends.
func Topics(t testing.TB, brokers []string) *Broker {
	t.Helper()
	return withTopics(t, brokers, "external")
}

func withTopics(t testing.TB, brokers []string, kind string) *Broker {
	t.Helper()
	client, err := kafka.NewClient(brokers, "kafkatest")
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		t.Fatalf("kafkatest: %v", err)
	}
	suffix := randomSuffix()
	b := &Broker{
		Brokers:     brokers,
		OrdersTopic: "orders-" + suffix,
		AcksTopic:   "order-acks-" + suffix,
		DLQTopic:    "orders-dlq-" + suffix,
		Partitions:  Partitions,
		Kind:        kind,
	}
	names := []string{b.OrdersTopic, b.AcksTopic, b.DLQTopic}
	t.Cleanup(func() {
		defer admin.Close() // and the client
		for _, topic := range names {
			if err := admin.DeleteTopic(topic); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Errorf("kafkatest: delete topic %s: %v", topic, err)
			}
		}
	})
	specs := make([]kafka.TopicSpec, len(names))
	for i, name := range names {
		specs[i] = kafka.TopicSpec{Name: name, Partitions: Partitions}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, client, specs...); err != nil {
		t.Fatalf("kafkatest: on %s=%s: %v", EnvBrokers, strings.Join(brokers, ","), err)
	}
	return b
}

// The Apache Kafka clusters shared by the tests of this binary, by node
// count.
var shared struct {
	mu       sync.Mutex
	clusters map[int]*sharedState
}

type sharedState struct {
	k      *devstack.ApacheKafka
	err    error
	failed bool // a test using it failed: keep the logs
}

func sharedCluster(nodes int) (*devstack.ApacheKafka, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.clusters == nil {
		shared.clusters = map[int]*sharedState{}
	}
	if s, ok := shared.clusters[nodes]; ok {
		return s.k, s.err
	}
	s := &sharedState{}
	shared.clusters[nodes] = s
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s.k, s.err = devstack.StartApacheKafka(ctx, devstack.ApacheOptions{Nodes: nodes, QuickStart: true})
	if s.err != nil {
		s.err = fmt.Errorf("shared %d-node cluster: %w", nodes, s.err)
	}
	return s.k, s.err
}

func markFailed(nodes int) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.clusters[nodes]; s != nil {
		s.failed = true
	}
}

// Shutdown stops the shared Apache Kafka clusters, keeping their node logs
// under devstack.ArtifactsDir() if a test that used them failed. It is a
// cleanup for pgtest.Main; Main calls it.
func Shutdown() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for nodes, s := range shared.clusters {
		if s.k == nil {
			continue
		}
		if s.failed {
			dir, err := s.k.SaveLogs(artifactName(fmt.Sprintf("shared-%dnode", nodes)))
			fmt.Fprintf(os.Stderr, "kafkatest: node logs of the shared %d-node Apache Kafka cluster kept in %s (%v)\n", nodes, dir, err)
		}
		s.k.Close()
	}
	shared.clusters = nil
}

// Main runs the tests of a package, then cleanups, then Shutdown, and
// exits with the tests' exit code. Call it from TestMain (a package that
// uses pgtest passes Shutdown to pgtest.Main instead).
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	Shutdown()
	os.Exit(code)
}

func artifactName(test string) string {
	name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(test)
	return fmt.Sprintf("kafka-%s-%s", name, time.Now().Format("20060102-150405"))
}

func splitBrokers(s string) []string {
	var out []string
	for b := range strings.SplitSeq(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
