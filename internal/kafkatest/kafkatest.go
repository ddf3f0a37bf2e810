// Package kafkatest gives tests a Kafka-protocol broker with fresh topics.
//
// Import it only from _test files. Without KAFKA_BROKERS each New starts an
// in-memory, in-process kfake broker; with KAFKA_BROKERS (comma-separated
// host:port list) each New creates uniquely named topics on that cluster
// and deletes them when the test ends.
package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

// EnvBrokers names the environment variable that points the harness at an
// existing Kafka cluster.
const EnvBrokers = "KAFKA_BROKERS"

// Partitions is the partition count of the topics New creates.
const Partitions int32 = devstack.DefaultPartitions

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
	// Cluster is the in-process kfake cluster, for fault injection; nil
	// with KAFKA_BROKERS.
	Cluster *kfake.Cluster
}

// New returns a broker for t, closed (or its topics deleted) when the test
// ends. It fails the test if no broker can be had; it never skips.
func New(t testing.TB) *Broker {
	t.Helper()
	if env := os.Getenv(EnvBrokers); env != "" {
		return newExternal(t, splitBrokers(env))
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
		Cluster:     k.Cluster(),
	}
}

func newExternal(t testing.TB, brokers []string) *Broker {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	cfg.ClientID = "kafkatest"
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("kafkatest: connect to %s=%s: %v", EnvBrokers, strings.Join(brokers, ","), err)
	}
	suffix := randomSuffix()
	b := &Broker{
		Brokers:     brokers,
		OrdersTopic: "orders-" + suffix,
		AcksTopic:   "order-acks-" + suffix,
		DLQTopic:    "orders-dlq-" + suffix,
		Partitions:  Partitions,
	}
	var created []string
	t.Cleanup(func() {
		defer admin.Close()
		for _, topic := range created {
			if err := admin.DeleteTopic(topic); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Errorf("kafkatest: delete topic %s: %v", topic, err)
			}
		}
	})
	for _, topic := range []string{b.OrdersTopic, b.AcksTopic, b.DLQTopic} {
		// ReplicationFactor -1: the cluster's default.replication.factor.
		detail := &sarama.TopicDetail{NumPartitions: Partitions, ReplicationFactor: -1}
		if err := admin.CreateTopic(topic, detail, false); err != nil {
			t.Fatalf("kafkatest: create topic %s: %v", topic, err)
		}
		created = append(created, topic)
	}
	if err := waitForTopics(admin, created, Partitions); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return b
}

// waitForTopics waits until every partition of topics has a leader, since
// topic creation reaches all brokers asynchronously.
func waitForTopics(admin sarama.ClusterAdmin, topics []string, partitions int32) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		metas, err := admin.DescribeTopics(topics)
		if err == nil {
			err = checkTopics(metas, partitions)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for topics %v: %w", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkTopics(metas []*sarama.TopicMetadata, partitions int32) error {
	for _, m := range metas {
		if !errors.Is(m.Err, sarama.ErrNoError) {
			return fmt.Errorf("topic %s: %w", m.Name, m.Err)
		}
		if int32(len(m.Partitions)) != partitions {
			return fmt.Errorf("topic %s has %d partitions, want %d", m.Name, len(m.Partitions), partitions)
		}
		for _, p := range m.Partitions {
			if p.Leader < 0 {
				return fmt.Errorf("topic %s partition %d has no leader", m.Name, p.ID)
			}
		}
	}
	return nil
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
