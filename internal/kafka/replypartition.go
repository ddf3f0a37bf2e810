package kafka

import "hash/fnv"

// ReplyPartitionFor is the partition of the ACK topic that an API instance
// reads when REPLY_PARTITION is not set: the FNV-32a hash of its
// INSTANCE_ID modulo the topic's partition count. Instances may share a
// partition; each then drops the other's ACKs.
func ReplyPartitionFor(instanceID string, partitions int) int32 {
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	return int32(h.Sum32() % uint32(partitions))
}
