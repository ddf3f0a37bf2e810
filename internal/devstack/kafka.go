package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
)

// Default topics and partition count of the local broker (internal/config
// is their home).
const (
	DefaultPartitions  int32 = config.DefaultPartitions
	DefaultOrdersTopic       = config.DefaultOrdersTopic
	DefaultAcksTopic         = config.DefaultAcksTopic
	DefaultDLQTopic          = config.DefaultDLQTopic
)

// KafkaOptions configures StartKafka.
type KafkaOptions struct {
	// Port is the TCP port on 127.0.0.1; 0 picks a free port.
	Port int
	// DataDir persists the broker's state across restarts; "" keeps it in
	// memory.
	DataDir string
	// Partitions is the partition count of Topics; 0 means 8.
	Partitions int32
	// Topics are created at start; nil means "orders", "order-acks" and "orders-dlq".
	Topics []string
	// Log receives broker warnings and errors; nil discards them.
	Log *slog.Logger
}

// Kafka is an in-process Kafka-protocol broker (a one-broker kfake
// cluster) listening on 127.0.0.1.
type Kafka struct {
	cluster *kfake.Cluster
	brokers []string
	once    sync.Once
}

// StartKafka starts a one-broker kfake cluster with opts.Topics created
// with opts.Partitions partitions. Automatic topic creation is off.
//
// kfake only seeds topics into a fresh cluster, so when a DataDir with
// earlier state is reused, missing topics are created through the Kafka
// admin API (kafka.EnsureTopics), and a topic with another partition count
// than opts.Partitions is an error (*kafka.PartitionCountError).
func StartKafka(opts KafkaOptions) (*Kafka, error) {
	if opts.Partitions <= 0 {
		opts.Partitions = DefaultPartitions
	}
	if opts.Topics == nil {
		opts.Topics = []string{DefaultOrdersTopic, DefaultAcksTopic, DefaultDLQTopic}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(opts.Partitions, opts.Topics...),
		kfake.DefaultNumPartitions(int(opts.Partitions)),
		// Only a lower bound: lets tests use short consumer group session
		// timeouts; sarama's default of 10 s is unaffected.
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.WithLogger(slogKfakeLogger{log}),
	}
	if opts.Port != 0 {
		// Without Ports, kfake listens on 127.0.0.1:0.
		kopts = append(kopts, kfake.Ports(opts.Port))
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("start kafka: create data directory: %w", err)
		}
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	k := &Kafka{cluster: c, brokers: c.ListenAddrs()}
	if opts.DataDir != "" {
		if err := ensureTopics(k.brokers, opts.Topics, opts.Partitions); err != nil {
			c.Close()
			return nil, fmt.Errorf("start kafka: %w", err)
		}
	}
	log.Info("kafka ready", "brokers", k.brokers, "topics", opts.Topics, "partitions", opts.Partitions, "data_dir", opts.DataDir)
	return k, nil
}

// Brokers returns the broker addresses, such as "127.0.0.1:9092".
func (k *Kafka) Brokers() []string { return append([]string(nil), k.brokers...) }

// Cluster returns the underlying kfake cluster, for tests that inject
// faults or move partitions.
func (k *Kafka) Cluster() *kfake.Cluster { return k.cluster }

// Close stops the broker, persisting its state if it has a DataDir. It is
// safe to call more than once.
func (k *Kafka) Close() {
	k.once.Do(k.cluster.Close)
}

// ensureTopics creates the missing topics of a kfake cluster restarted
// from a DataDir, and refuses topics with another partition count
// (kafka.EnsureTopics): growing a topic would move orders to other
// partitions.
func ensureTopics(brokers, topics []string, partitions int32) error {
	specs := make([]kafka.TopicSpec, len(topics))
	for i, name := range topics {
		specs[i] = kafka.TopicSpec{Name: name, Partitions: partitions}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kafka.EnsureTopicsAt(ctx, brokers, false, specs...)
}

// slogKfakeLogger passes kfake's warnings and errors to slog. kfake logs
// every request at info level, which is too chatty to keep.
type slogKfakeLogger struct{ log *slog.Logger }

func (l slogKfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	default:
		return
	}
	l.log.Log(context.Background(), sl, "kafka: "+fmt.Sprintf(msg, args...))
}
