package kafka_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
)

func TestReplication(t *testing.T) {
	for _, tc := range []struct {
		brokers    int
		rf, minISR int16
	}{{0, 1, 1}, {1, 1, 1}, {2, 1, 1}, {3, 3, 2}, {5, 3, 2}} {
		if rf, isr := kafka.Replication(tc.brokers); rf != tc.rf || isr != tc.minISR {
			t.Errorf("Replication(%d) = %d, %d; want %d, %d", tc.brokers, rf, isr, tc.rf, tc.minISR)
		}
	}
}

func TestPartitionCountErrorMessage(t *testing.T) {
	got := (&kafka.PartitionCountError{Topic: "orders", Have: 1, Want: 8}).Error()
	want := "topic orders has 1 partition, want 8: it was probably auto-created (auto.create.topics.enable gives num.partitions, 1 by default); delete it or set KAFKA_PARTITIONS=1"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = (&kafka.PartitionCountError{Topic: "orders", Have: 16, Want: 8}).Error()
	if want := "topic orders has 16 partitions, want 8; delete it or set KAFKA_PARTITIONS=16"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// testProvisioning runs the provisioning cases on the cluster at brokers.
func testProvisioning(t *testing.T, brokers []string) {
	client, err := kafka.NewClient(brokers, "topics-test")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close() // and the client
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Unique names: the Apache cluster is shared by the package's tests.
	prefix := strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
	orders := kafka.TopicSpec{Name: prefix + "-orders", Partitions: 8}
	auto := kafka.TopicSpec{Name: prefix + "-auto", Partitions: 1}
	t.Cleanup(func() {
		for _, name := range []string{orders.Name, auto.Name} {
			admin.DeleteTopic(name) //nolint:errcheck // best effort
		}
	})

	if err := kafka.VerifyTopics(ctx, client, orders); !errors.Is(err, kafka.ErrNoTopic) {
		t.Fatalf("VerifyTopics of a missing topic: %v, want ErrNoTopic", err)
	}
	for range 2 { // the second run finds them and is a no-op
		if err := kafka.EnsureTopics(ctx, client, orders, auto); err != nil {
			t.Fatal(err)
		}
	}
	if err := kafka.VerifyTopics(ctx, client, orders, auto); err != nil {
		t.Fatal(err)
	}
	metas, err := admin.DescribeTopics([]string{orders.Name})
	if err != nil {
		t.Fatal(err)
	}
	nodes, _, err := admin.DescribeCluster()
	if err != nil {
		t.Fatal(err)
	}
	wantRF, wantISR := kafka.Replication(len(nodes))
	for _, p := range metas[0].Partitions {
		if len(p.Replicas) != int(wantRF) || p.Leader < 0 {
			t.Errorf("partition %d: replicas %v, leader %d; want %d replicas and a leader", p.ID, p.Replicas, p.Leader, wantRF)
		}
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: orders.Name, ConfigNames: []string{"min.insync.replicas"}})
	if err != nil || len(entries) != 1 || entries[0].Value != strconv.Itoa(int(wantISR)) {
		t.Errorf("min.insync.replicas of %s = %+v, %v; want %d", orders.Name, entries, err, wantISR)
	}

	// A one-partition topic where eight are expected, as auto-creation leaves.
	want8 := auto
	want8.Partitions = 8
	for name, f := range map[string]func(context.Context, sarama.Client, ...kafka.TopicSpec) error{
		"EnsureTopics": kafka.EnsureTopics, "VerifyTopics": kafka.VerifyTopics,
	} {
		err := f(ctx, client, orders, want8)
		var pce *kafka.PartitionCountError
		if !errors.As(err, &pce) || pce.Topic != auto.Name || pce.Have != 1 || pce.Want != 8 {
			t.Fatalf("%s with the wrong partition count: %v", name, err)
		}
		if !strings.Contains(err.Error(), "probably auto-created") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestProvisioning runs on the broker of kafkatest.New (kfake by default).
func TestProvisioning(t *testing.T) {
	t.Parallel()
	testProvisioning(t, kafkatest.New(t).Brokers)
}

// TestProvisioningApache runs on the real broker whatever KAFKA_KIND says.
func TestProvisioningApache(t *testing.T) {
	t.Parallel()
	testProvisioning(t, kafkatest.NewApache(t, 1).Brokers)
}
