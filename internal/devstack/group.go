package devstack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
)

// GroupState is a consumer group as WaitGroupStable last saw it.
type GroupState struct {
	State string
	// Partitions is the partition count of the topic.
	Partitions int
	// Assignments are the partitions of the topic each member holds,
	// sorted, members ordered by their first partition.
	Assignments [][]int32
}

// WaitGroupStable waits until consumer group is Stable with members
// members holding every partition of topic between them (a worker that
// joins late makes the group rebalance, and partitions stop while it
// does), or until ctx ends. It returns the last state seen.
func WaitGroupStable(ctx context.Context, brokers []string, group, topic string, members int) (GroupState, error) {
	cfg := adminConfig("orderstream-devstack")
	var gs GroupState
	for {
		var err error
		if gs, err = describeGroup(cfg, brokers, group, topic); err == nil {
			held := 0
			for _, a := range gs.Assignments {
				held += len(a)
			}
			if gs.State == "Stable" && len(gs.Assignments) == members && gs.Partitions > 0 && held == gs.Partitions {
				return gs, nil
			}
			err = fmt.Errorf("state %s, %d members, %d of %d partitions assigned", gs.State, len(gs.Assignments), held, gs.Partitions)
		}
		select {
		case <-ctx.Done():
			return gs, fmt.Errorf("consumer group %s not stable with %d members holding all partitions of %s: %w (last: %v)", group, members, topic, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describeGroup(cfg *sarama.Config, brokers []string, group, topic string) (GroupState, error) {
	var gs GroupState
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return gs, err
	}
	defer admin.Close()
	topics, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(topics) != 1 {
		return gs, fmt.Errorf("describe topic %s: %v", topic, err)
	}
	gs.Partitions = len(topics[0].Partitions)
	groups, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(groups) != 1 {
		return gs, fmt.Errorf("describe group %s: %v", group, err)
	}
	g := groups[0]
	gs.State = g.State
	for _, m := range g.Members {
		a, err := m.GetMemberAssignment()
		if err != nil || a == nil {
			return gs, fmt.Errorf("member %s has no assignment yet (%v)", m.ClientHost, err)
		}
		parts := slices.Clone(a.Topics[topic])
		slices.Sort(parts)
		gs.Assignments = append(gs.Assignments, parts)
	}
	slices.SortFunc(gs.Assignments, func(a, b []int32) int {
		if len(a) == 0 || len(b) == 0 {
			return len(a) - len(b)
		}
		return int(a[0] - b[0])
	})
	return gs, nil
}

// TopicPartitions returns the partition count of each of topics.
func TopicPartitions(brokers []string, topics ...string) (map[string]int, error) {
	admin, err := sarama.NewClusterAdmin(brokers, adminConfig("orderstream-devstack"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics(topics)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	out := map[string]int{}
	for _, m := range metas {
		if !errors.Is(m.Err, sarama.ErrNoError) {
			return nil, fmt.Errorf("topic %s: %w", m.Name, m.Err)
		}
		out[m.Name] = len(m.Partitions)
	}
	return out, nil
}

// adminConfig is the sarama configuration of devstack's admin clients.
func adminConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	cfg.ClientID = clientID
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	return cfg
}
