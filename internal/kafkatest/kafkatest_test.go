package kafkatest_test

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
)

func TestNewHasTopics(t *testing.T) {
	t.Parallel()
	b := kafkatest.New(t)
	if len(b.Brokers) == 0 || b.OrdersTopic == "" || b.AcksTopic == "" || b.Partitions != 8 {
		t.Fatalf("broker = %+v", b)
	}
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	admin, err := sarama.NewClusterAdmin(b.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics([]string{b.OrdersTopic, b.AcksTopic})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if m.Err != sarama.ErrNoError || len(m.Partitions) != int(b.Partitions) {
			t.Errorf("topic %s: err %v, %d partitions", m.Name, m.Err, len(m.Partitions))
		}
	}
}

func TestNewIsolated(t *testing.T) {
	t.Parallel()
	a, b := kafkatest.New(t), kafkatest.New(t)
	if a.Brokers[0] == b.Brokers[0] && a.OrdersTopic == b.OrdersTopic {
		t.Fatalf("two brokers share %s topic %s", a.Brokers[0], a.OrdersTopic)
	}
}
