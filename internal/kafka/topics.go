package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// TopicSpec is a topic as OrderStream needs it.
type TopicSpec struct {
	Name       string
	Partitions int32
	// ReplicationFactor of a topic that EnsureTopics creates; 0 picks it
	// from the cluster size (Replication).
	ReplicationFactor int16
	// MinInsyncReplicas is the min.insync.replicas of a topic that
	// EnsureTopics creates; 0 picks it from the cluster size (Replication).
	MinInsyncReplicas int16
}

// Replication returns the replication factor and min.insync.replicas for
// the topics of a cluster of brokers brokers: 3 and 2 with three or more (a
// write survives one broker down, and acks=all fails rather than keep a
// single copy), 1 and 1 below.
func Replication(brokers int) (factor, minISR int16) {
	if brokers >= 3 {
		return 3, 2
	}
	return 1, 1
}

// PartitionCountError says that a topic exists with another partition count
// than the one the services were configured with. The modulo partitioner
// maps an order to a partition by the count, so neither side may guess.
type PartitionCountError struct {
	Topic      string
	Have, Want int32
}

func (e *PartitionCountError) Error() string {
	msg := fmt.Sprintf("topic %s has %d partition%s, want %d", e.Topic, e.Have, plural(e.Have), e.Want)
	if e.Have == 1 {
		msg += ": it was probably auto-created (auto.create.topics.enable gives num.partitions, 1 by default)"
	}
	return msg + fmt.Sprintf("; delete it or set KAFKA_PARTITIONS=%d", e.Have)
}

func plural(n int32) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// NewClusterAdmin connects a sarama ClusterAdmin to brokers with
// OrderStream's client configuration (NewConfig).
func NewClusterAdmin(brokers []string, clientID string) (sarama.ClusterAdmin, error) {
	cfg := NewConfig(clientID)
	cfg.Net.DialTimeout = 5 * time.Second
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect kafka admin to %v: %w", brokers, err)
	}
	return admin, nil
}

// EnsureTopics creates the topics of specs that are missing, with their
// partitions, replication factor and min.insync.replicas (a zero
// ReplicationFactor or MinInsyncReplicas is taken from Replication of the
// cluster's broker count), then waits until every partition of every spec
// has a leader, or ctx ends.
//
// An existing topic is kept as it is (its replication and configuration are
// not changed), but one with another partition count is refused with a
// *PartitionCountError, so is a topic that another client creates at the
// same time with another count.
func EnsureTopics(ctx context.Context, admin sarama.ClusterAdmin, specs ...TopicSpec) error {
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var brokers int
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		if s.Partitions <= 0 {
			return fmt.Errorf("create topic %s: partitions must be positive, not %d", s.Name, s.Partitions)
		}
		if (s.ReplicationFactor == 0 || s.MinInsyncReplicas == 0) && brokers == 0 {
			nodes, _, err := admin.DescribeCluster()
			if err != nil {
				return fmt.Errorf("describe cluster: %w", err)
			}
			brokers = len(nodes)
		}
		rf, minISR := Replication(brokers)
		if s.ReplicationFactor != 0 {
			rf = s.ReplicationFactor
		}
		if s.MinInsyncReplicas != 0 {
			minISR = s.MinInsyncReplicas
		}
		isr := strconv.Itoa(int(minISR))
		detail := &sarama.TopicDetail{
			NumPartitions:     s.Partitions,
			ReplicationFactor: rf,
			ConfigEntries:     map[string]*string{"min.insync.replicas": &isr},
		}
		err := admin.CreateTopic(s.Name, detail, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create topic %s (%d partitions, replication factor %d, min.insync.replicas %d): %w",
				s.Name, s.Partitions, rf, minISR, err)
		}
	}
	return waitTopics(ctx, admin, specs, false)
}

// VerifyTopics checks, creating nothing, that every topic of specs exists
// with its partition count (a *PartitionCountError if not), and waits until
// each of their partitions has a leader, or ctx ends. A missing topic is an
// error at once.
func VerifyTopics(ctx context.Context, admin sarama.ClusterAdmin, specs ...TopicSpec) error {
	return waitTopics(ctx, admin, specs, true)
}

// ErrNoTopic is wrapped by the error of VerifyTopics for a missing topic.
var ErrNoTopic = errors.New("topic does not exist")

// waitTopics polls the topics' metadata until every partition has a
// leader. Topic creation reaches the brokers asynchronously: a topic just
// created can be unknown, or leaderless, for a moment; with missingIsFinal
// an unknown topic is an error at once.
func waitTopics(ctx context.Context, admin sarama.ClusterAdmin, specs []TopicSpec, missingIsFinal bool) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	var last error
	for {
		metas, err := admin.DescribeTopics(names)
		if err == nil {
			err = checkTopics(metas, specs)
			var pce *PartitionCountError
			if errors.As(err, &pce) || (missingIsFinal && errors.Is(err, ErrNoTopic)) {
				return err
			}
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics %v: %w (last: %v)", names, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkTopics(metas []*sarama.TopicMetadata, specs []TopicSpec) error {
	byName := make(map[string]*sarama.TopicMetadata, len(metas))
	for _, m := range metas {
		byName[m.Name] = m
	}
	var errs []error
	for _, s := range specs {
		m := byName[s.Name]
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("topic %s: %w (not in the metadata)", s.Name, ErrNoTopic))
		case errors.Is(m.Err, sarama.ErrUnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, ErrNoTopic))
		case !errors.Is(m.Err, sarama.ErrNoError):
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, m.Err))
		case int32(len(m.Partitions)) != s.Partitions:
			return &PartitionCountError{Topic: s.Name, Have: int32(len(m.Partitions)), Want: s.Partitions}
		default:
			for _, p := range m.Partitions {
				if p.Leader < 0 {
					errs = append(errs, fmt.Errorf("topic %s partition %d has no leader", s.Name, p.ID))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}
