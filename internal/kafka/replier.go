package kafka

import (
	"fmt"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/order"
)

// Replier produces the worker's ACKs to where each event asked for them.
type Replier struct {
	producer sarama.SyncProducer
}

// NewReplier connects an ACK producer to brokers. cfg nil: NewConfig.
func NewReplier(brokers []string, cfg *sarama.Config) (*Replier, error) {
	if cfg == nil {
		cfg = NewConfig("orderstream-worker")
	}
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("new ack producer: %w", err)
	}
	return &Replier{producer: p}, nil
}

// Reply produces ack for the event in req and returns once Kafka has stored
// it. An event without reply headers (nobody waits) needs no ACK.
func (r *Replier) Reply(req *sarama.ConsumerMessage, ack order.Ack) error {
	topic := Header(req, HeaderReplyTopic)
	if topic == "" {
		return nil
	}
	p, err := strconv.ParseInt(Header(req, HeaderReplyPartition), 10, 32)
	if err != nil || p < 0 {
		return fmt.Errorf("event has a bad %s header: %q", HeaderReplyPartition, Header(req, HeaderReplyPartition))
	}
	value, err := EncodeAck(ack)
	if err != nil {
		return fmt.Errorf("encode ack: %w", err)
	}
	_, _, err = r.producer.SendMessage(&sarama.ProducerMessage{
		Topic:     topic,
		Partition: int32(p),
		Key:       Key(ack.OrderID),
		Value:     sarama.ByteEncoder(value),
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderCorrelationID), Value: []byte(Header(req, HeaderCorrelationID))},
			{Key: []byte(HeaderContentType), Value: []byte(contentTypeJSON)},
		},
	})
	if err != nil {
		return fmt.Errorf("produce ack of order %d event %d: %w", ack.OrderID, ack.EventID, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (r *Replier) Close() error { return r.producer.Close() }
