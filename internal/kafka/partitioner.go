package kafka

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
)

// ModuloPartitioner puts an order's events on partition (order id mod
// partition count). Keys are order ids in decimal. Consecutive ids land on
// consecutive partitions, which spreads load evenly, and every event of one
// order lands on the same partition, which keeps them in order.
type ModuloPartitioner struct{}

// NewModuloPartitioner is a sarama.PartitionerConstructor.
func NewModuloPartitioner(string) sarama.Partitioner { return ModuloPartitioner{} }

// Key returns the message key for an order id.
func Key(orderID int64) sarama.Encoder { return sarama.StringEncoder(strconv.FormatInt(orderID, 10)) }

// Partition implements sarama.Partitioner.
func (ModuloPartitioner) Partition(m *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if numPartitions <= 0 {
		return 0, errors.New("topic has no partitions")
	}
	if m.Key == nil {
		return 0, errors.New("message has no key: want an order id")
	}
	var id uint64
	var err error
	switch k := m.Key.(type) {
	case sarama.StringEncoder:
		id, err = strconv.ParseUint(string(k), 10, 63)
	default:
		var b []byte
		if b, err = k.Encode(); err == nil {
			id, err = strconv.ParseUint(string(b), 10, 63)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("message key is not an order id: %w", err)
	}
	return int32(id % uint64(numPartitions)), nil
}

// RequiresConsistency implements sarama.Partitioner: the partition of a key
// must never change, even while a partition is unavailable.
func (ModuloPartitioner) RequiresConsistency() bool { return true }
