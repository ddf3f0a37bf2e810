package kafka

import (
	"testing"

	"github.com/IBM/sarama"
)

// TestConfigIsSafe pins the settings that the delivery guarantees rest on.
func TestConfigIsSafe(t *testing.T) {
	c := NewConfig("test")
	checks := []struct {
		name      string
		got, want any
	}{
		{"Producer.RequiredAcks (all in-sync replicas)", c.Producer.RequiredAcks, sarama.WaitForAll},
		{"Producer.Idempotent", c.Producer.Idempotent, true},
		{"Net.MaxOpenRequests (no reordering on retry)", c.Net.MaxOpenRequests, 1},
		{"Producer.Return.Successes", c.Producer.Return.Successes, true},
		{"Producer.Return.Errors", c.Producer.Return.Errors, true},
		{"Consumer.Offsets.Initial (nothing skipped for a new group)", c.Consumer.Offsets.Initial, sarama.OffsetOldest},
		{"Consumer.Return.Errors", c.Consumer.Return.Errors, true},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s: got %v; want %v", tc.name, tc.got, tc.want)
		}
	}
	if c.Producer.Retry.Max < 1 {
		t.Errorf("Producer.Retry.Max: got %d; want at least 1", c.Producer.Retry.Max)
	}
	// Auto-commit only commits offsets the worker marked, after its work.
	if !c.Consumer.Offsets.AutoCommit.Enable {
		t.Error("Consumer.Offsets.AutoCommit.Enable: got false; the worker relies on sarama committing marked offsets")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, ok := c.Producer.Partitioner("orders").(ModuloPartitioner); !ok {
		t.Error("Producer.Partitioner: want the modulo partitioner")
	}
}
