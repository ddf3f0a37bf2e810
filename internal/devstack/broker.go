package devstack

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/orderstream/orderstream/internal/kafka"
)

// Broker is a Kafka cluster the stack's processes talk to.
type Broker interface {
	// Brokers returns the bootstrap addresses ("127.0.0.1:9092").
	Brokers() []string
	// Close stops the cluster if the stack started it.
	Close()
}

// BrokerKind names where a stack's broker comes from.
type BrokerKind string

// Broker kinds.
const (
	// KindKfake is an in-process Kafka-protocol broker (franz-go's kfake,
	// StartKafka): the default.
	KindKfake BrokerKind = "kfake"
	// KindExternal is a running cluster (KAFKA_BROKERS), left running.
	KindExternal BrokerKind = "external"
	// KindApache is a real Apache Kafka cluster of 1 or 3 KRaft nodes run
	// from Maven Central's jars.
	KindApache BrokerKind = "apache"
)

// BrokerOptions configures StartBroker.
type BrokerOptions struct {
	// Kind is the broker kind; "" means KindExternal when Brokers is set,
	// else KindKfake.
	Kind BrokerKind
	// Kafka configures a KindKfake broker.
	Kafka KafkaOptions
	// Brokers are the addresses of a KindExternal cluster.
	Brokers []string
	// Nodes is the size of a KindApache cluster (1 or 3; 0 means 1).
	Nodes int
	// FullJIT runs a KindApache cluster's JVMs with the JIT compilers of a
	// production broker (C1 and C2) instead of QuickStart's C1 only, which
	// starts faster and suits tests and short runs.
	FullJIT bool
	// Dir and Ports place a KindApache cluster (ApacheOptions); a KindKfake
	// broker takes Kafka.DataDir and Kafka.Port.
	Dir   string
	Ports []int
}

// StartBroker starts (or, for KindExternal, points at) the broker opts ask
// for. It is the one place where a broker kind is chosen: launchers (the
// stack, cmd/devstack, the test harnesses) come through it.
func StartBroker(ctx context.Context, opts BrokerOptions) (Broker, error) {
	kind := opts.Kind
	if kind == "" {
		kind = KindKfake
		if len(opts.Brokers) > 0 {
			kind = KindExternal
		}
	}
	switch kind {
	case KindKfake:
		return StartKafka(opts.Kafka)
	case KindExternal:
		if len(opts.Brokers) == 0 {
			return nil, errors.New("start broker: an external cluster needs its addresses (KAFKA_BROKERS)")
		}
		return External(opts.Brokers), nil
	case KindApache:
		a, err := StartApacheKafka(ctx, ApacheOptions{Nodes: max(opts.Nodes, 1), Dir: opts.Dir, Ports: opts.Ports,
			QuickStart: !opts.FullJIT, Log: opts.Kafka.Log})
		if err != nil {
			return nil, err
		}
		// The topics, as kfake seeds them, through the one provisioning
		// function the services use too: 3 replicas and min.insync.replicas
		// 2 on three nodes, 1 and 1 on one.
		partitions, topics := opts.Kafka.Partitions, opts.Kafka.Topics
		if partitions <= 0 {
			partitions = DefaultPartitions
		}
		if topics == nil {
			topics = []string{DefaultOrdersTopic, DefaultAcksTopic, DefaultDLQTopic}
		}
		specs := make([]kafka.TopicSpec, len(topics))
		for i, t := range topics {
			specs[i] = kafka.TopicSpec{Name: t, Partitions: partitions}
		}
		if err := kafka.EnsureTopicsAt(ctx, a.Brokers(), false, specs...); err != nil {
			a.Close()
			return nil, fmt.Errorf("start broker: %w", err)
		}
		return a, nil
	default:
		return nil, fmt.Errorf("start broker: unknown kind %q (want %s, %s or %s)", kind, KindKfake, KindExternal, KindApache)
	}
}

// External is a running cluster at addrs: Close leaves it running.
func External(addrs []string) Broker { return external(slices.Clone(addrs)) }

type external []string

func (e external) Brokers() []string { return slices.Clone(e) }
func (e external) Close()            {}
