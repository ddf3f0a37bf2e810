package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/backoff"
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
	admin, err := sarama.NewClusterAdmin(brokers, adminConfig(clientID))
	if err != nil {
		return nil, fmt.Errorf("connect kafka admin to %v: %w", brokers, err)
	}
	return admin, nil
}

// NewClient connects a sarama Client to brokers with OrderStream's client
// configuration (NewConfig), for EnsureTopics and VerifyTopics.
func NewClient(brokers []string, clientID string) (sarama.Client, error) {
	client, err := sarama.NewClient(brokers, adminConfig(clientID))
	if err != nil {
		return nil, fmt.Errorf("connect kafka client to %v: %w", brokers, err)
	}
	return client, nil
}

func adminConfig(clientID string) *sarama.Config {
	cfg := NewConfig(clientID)
	cfg.Net.DialTimeout = 5 * time.Second
	return cfg
}

// EnsureTopicsAt is EnsureTopics (verifyOnly false) or VerifyTopics
// (verifyOnly true) through a client of its own, connected to brokers.
func EnsureTopicsAt(ctx context.Context, brokers []string, verifyOnly bool, specs ...TopicSpec) error {
	client, err := NewClient(brokers, "orderstream-topics")
	if err != nil {
		return err
	}
	defer client.Close()
	if verifyOnly {
		return VerifyTopics(ctx, client, specs...)
	}
	return EnsureTopics(ctx, client, specs...)
}

// EnsureTopics creates the topics of specs that are missing, with their
// partitions, replication factor and min.insync.replicas (a zero
// ReplicationFactor or MinInsyncReplicas is taken from Replication of the
// cluster's broker count), then waits until the leader of every partition
// of every spec serves it, or ctx ends.
//
// An existing topic is kept as it is (its replication and configuration are
// not changed), but one with another partition count is refused with a
// *PartitionCountError, so is a topic that another client creates at the
// same time with another count. It does not close client.
func EnsureTopics(ctx context.Context, client sarama.Client, specs ...TopicSpec) error {
	// An admin on the caller's client: closing it would close the client.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	// The admin's requests go to one broker (in KRaft a random live one,
	// which forwards them to the controller): while a broker is down but
	// not yet fenced, it can be that one, so failed requests are retried
	// on another until ctx ends.
	existing, err := retryAdmin(ctx, client, admin.ListTopics)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		if s.Partitions <= 0 {
			return fmt.Errorf("create topic %s: partitions must be positive, not %d", s.Name, s.Partitions)
		}
		rf, minISR := Replication(len(client.Brokers()))
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
		_, err := retryAdmin(ctx, client, func() (struct{}, error) {
			err := admin.CreateTopic(s.Name, detail, false)
			if errors.Is(err, sarama.ErrTopicAlreadyExists) {
				err = nil
			}
			return struct{}{}, err
		})
		if err != nil {
			return fmt.Errorf("create topic %s (%d partitions, replication factor %d, min.insync.replicas %d): %w",
				s.Name, s.Partitions, rf, minISR, err)
		}
	}
	return waitTopics(ctx, client, specs, false)
}

// retryAdmin calls f until it succeeds, fails for good, or ctx ends. A
// network error, NOT_CONTROLLER or REQUEST_TIMED_OUT is retried after
// asking the cluster for a controller again; an error of the request (a
// *sarama.TopicError such as INVALID_REPLICATION_FACTOR) is final.
func retryAdmin[T any](ctx context.Context, client sarama.Client, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		var te *sarama.TopicError
		if err == nil || (errors.As(err, &te) && !errors.Is(te.Err, sarama.ErrNotController) && !errors.Is(te.Err, sarama.ErrRequestTimedOut)) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		client.RefreshController() //nolint:errcheck // the next try says
	}
}

// VerifyTopics checks, creating nothing, that every topic of specs exists
// with its partition count (a *PartitionCountError if not), and waits until
// the leader of each of their partitions serves it, or ctx ends. A missing
// topic is an error (ErrNoTopic) at once. It does not close client.
func VerifyTopics(ctx context.Context, client sarama.Client, specs ...TopicSpec) error {
	// One ListTopics first: a metadata refresh retries an unknown topic
	// (Metadata.Retry) before it gives up.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	existing, err := retryAdmin(ctx, client, admin.ListTopics)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for _, s := range specs {
		if _, ok := existing[s.Name]; !ok {
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, ErrNoTopic))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return waitTopics(ctx, client, specs, true)
}

// ErrNoTopic is wrapped by the error of VerifyTopics for a missing topic.
var ErrNoTopic = errors.New("topic does not exist")

// waitTopics polls until every partition of specs has a leader that
// answers a ListOffsets request for it. Topic creation reaches the brokers
// asynchronously: a topic just created can be unknown or leaderless for a
// moment, and on Apache Kafka a broker's metadata can name a leader that
// has not yet taken the partition up (NOT_LEADER_OR_FOLLOWER). With
// missingIsFinal an unknown topic is an error at once.
func waitTopics(ctx context.Context, client sarama.Client, specs []TopicSpec, missingIsFinal bool) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	var last error
	for {
		err := checkTopics(client, specs)
		var pce *PartitionCountError
		if err == nil || errors.As(err, &pce) || (missingIsFinal && errors.Is(err, ErrNoTopic)) {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topics %v: %w (last: %v)", names, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkTopics(client sarama.Client, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if err := client.RefreshMetadata(names...); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("metadata of %v: %w", names, err)
	}
	var errs []error
	for _, s := range specs {
		parts, err := client.Partitions(s.Name)
		switch {
		case errors.Is(err, sarama.ErrUnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, ErrNoTopic))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, err))
			continue
		case int32(len(parts)) != s.Partitions:
			return &PartitionCountError{Topic: s.Name, Have: int32(len(parts)), Want: s.Partitions}
		}
		for _, p := range parts {
			if _, err := client.GetOffset(s.Name, p, sarama.OffsetNewest); err != nil {
				errs = append(errs, fmt.Errorf("topic %s partition %d: %w", s.Name, p, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// ProvisionTopics is the start-up step of the API and the worker: it
// creates the missing topics of specs (create true: KAFKA_CREATE_TOPICS) or
// only verifies them, retrying while the cluster cannot be reached, until
// ctx ends. A topic with another partition count, or a missing one when
// create is false, is refused at once: the service must not start.
func ProvisionTopics(ctx context.Context, log *slog.Logger, brokers []string, create bool, specs ...TopicSpec) error {
	return backoff.Retry(ctx, log, "provision kafka topics", func() error {
		err := EnsureTopicsAt(ctx, brokers, !create, specs...)
		var pce *PartitionCountError
		if errors.As(err, &pce) || errors.Is(err, ErrNoTopic) {
			return backoff.Permanent(err)
		}
		return err
	})
}
