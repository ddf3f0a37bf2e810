// Package kafka carries order events between the API and the worker over
// Kafka with IBM/sarama: the safe client configuration, the modulo
// partitioner, the event and ACK codecs, and request-reply (the API's
// Requester and the worker's Replier).
package kafka

import (
	"time"

	"github.com/IBM/sarama"
	gometrics "github.com/rcrowley/go-metrics"
)

func init() {
	// sarama records go-metrics histograms on every request by default (a
	// few percent of the API's CPU under load); OrderStream exports its own
	// Prometheus metrics instead. This is the switch sarama documents.
	gometrics.UseNilMetrics = true
}

// Version is the Kafka protocol version OrderStream speaks (Kafka 2.8+).
var Version = sarama.V2_8_0_0

// NewConfig returns the sarama configuration shared by the API and the
// worker. It favours safety: acks from all in-sync replicas, an idempotent
// producer with one request in flight so retries cannot reorder events,
// consumers that start from the oldest offset and commit only offsets the
// code has marked, after the work is done.
func NewConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = Version

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = NewModuloPartitioner

	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true // commits marked offsets only
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	// A worker that dies keeps its partitions until its session times out:
	// 6 s (Kafka's default group.min.session.timeout.ms) instead of 10 s.
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 2 * time.Second

	// Topics are provisioned with their partition counts (EnsureTopics);
	// a metadata request must never create one with the broker's defaults.
	c.Metadata.AllowAutoTopicCreation = false
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	return c
}
