package kafka

import (
	"context"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// Replier produces the worker's ACKs to where each event asked for them.
type Replier struct {
	producer sarama.SyncProducer
	// Metrics counts produce failures; nil: none.
	Metrics *metrics.Metrics
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
func (r *Replier) Reply(ctx context.Context, req *sarama.ConsumerMessage, ack order.Ack) error {
	return r.ReplyMany(ctx, []*sarama.ConsumerMessage{req}, []order.Ack{ack})
}

// ReplyMany produces acks[i] for the event in reqs[i], all at once, and
// returns once Kafka has stored every one.
//
// With tracing on, each ACK gets a PRODUCER span "send <topic>" whose
// context travels in the ACK's headers. For a single event it is a child of
// the span in ctx (the worker's processing span, in the order's trace); in
// a batch of several it is a child of the event's own trace context, from
// its headers, with a link to the span in ctx (the batch), so that each
// order's trace goes on to its ACK.
func (r *Replier) ReplyMany(ctx context.Context, reqs []*sarama.ConsumerMessage, acks []order.Ack) (err error) {
	msgs := make([]*sarama.ProducerMessage, 0, len(reqs))
	var spans []trace.Span
	if telemetry.Enabled() {
		spans = make([]trace.Span, 0, len(reqs))
		defer func() {
			for _, s := range spans {
				endSpan(s, err)
			}
		}()
	}
	for i, req := range reqs {
		topic := Header(req, HeaderReplyTopic)
		if topic == "" {
			continue
		}
		p, err := strconv.ParseInt(Header(req, HeaderReplyPartition), 10, 32)
		if err != nil || p < 0 {
			return fmt.Errorf("event has a bad %s header: %q", HeaderReplyPartition, Header(req, HeaderReplyPartition))
		}
		value, err := EncodeAck(acks[i])
		if err != nil {
			return fmt.Errorf("encode ack: %w", err)
		}
		corr := Header(req, HeaderCorrelationID)
		headers := []sarama.RecordHeader{
			{Key: []byte(HeaderCorrelationID), Value: []byte(corr)},
			{Key: []byte(HeaderContentType), Value: []byte(contentTypeJSON)},
		}
		if spans != nil {
			pctx, opts := ctx, []trace.SpanStartOption(nil)
			if len(reqs) > 1 {
				pctx = ExtractTrace(context.Background(), req)
				opts = append(opts, trace.WithLinks(trace.LinkFromContext(ctx)))
			}
			sctx, span := startProducerSpan(pctx, topic, acks[i].OrderID, acks[i].EventID, corr, opts...)
			spans = append(spans, span)
			InjectTrace(sctx, &headers)
		}
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic:     topic,
			Partition: int32(p),
			Key:       Key(acks[i].OrderID),
			Value:     sarama.ByteEncoder(value),
			Headers:   headers,
		})
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := r.producer.SendMessages(msgs); err != nil {
		r.Metrics.ProduceError("ack")
		return fmt.Errorf("produce %d acks: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the producer.
func (r *Replier) Close() error { return r.producer.Close() }

// Dead-letter headers, added to a copy of the original message.
const (
	HeaderDLQReason    = "orderstream-dlq-reason"
	HeaderDLQTopic     = "orderstream-dlq-source-topic"
	HeaderDLQPartition = "orderstream-dlq-source-partition"
	HeaderDLQOffset    = "orderstream-dlq-source-offset"
)

// DeadLetter copies m, with the reason and where it came from in headers, to
// partition 0 of topic, and returns once Kafka has stored it.
func (r *Replier) DeadLetter(topic string, m *sarama.ConsumerMessage, reason string) error {
	headers := make([]sarama.RecordHeader, 0, len(m.Headers)+4)
	for _, h := range m.Headers {
		if h != nil {
			headers = append(headers, *h)
		}
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(HeaderDLQReason), Value: []byte(reason)},
		sarama.RecordHeader{Key: []byte(HeaderDLQTopic), Value: []byte(m.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderDLQPartition), Value: []byte(strconv.Itoa(int(m.Partition)))},
		sarama.RecordHeader{Key: []byte(HeaderDLQOffset), Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	_, _, err := r.producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Partition: 0, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: headers,
	})
	if err != nil {
		r.Metrics.ProduceError("dlq")
		return fmt.Errorf("dead-letter %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	return nil
}
