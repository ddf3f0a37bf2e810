package kafka

import "testing"

// TestReplyPartitionFor pins the hash: API instances and the tools that
// report on them (cmd/bench) must agree on it.
func TestReplyPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		id         string
		partitions int
		want       int32
	}{
		{"bench-api-1", 8, 6},
		{"bench-api-2", 8, 3},
		{"x", 1, 0},
	} {
		if got := ReplyPartitionFor(tc.id, tc.partitions); got != tc.want {
			t.Errorf("ReplyPartitionFor(%q, %d) = %d; want %d", tc.id, tc.partitions, got, tc.want)
		}
	}
}
