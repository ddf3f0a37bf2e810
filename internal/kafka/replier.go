package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// Replier produces the worker's ACKs to where each event asked for them,
// and dead-letters the messages that cannot be processed.
type Replier struct {
	client   sarama.Client
	producer sarama.SyncProducer
	ackTopic string
	// Metrics counts produce failures; nil: none.
	Metrics *metrics.Metrics
}

// NewReplier connects an ACK producer to brokers, answering on ackTopic
// (an event that asks for its ACK on another topic is refused: Route).
// cfg nil: NewConfig.
func NewReplier(brokers []string, cfg *sarama.Config, ackTopic string) (*Replier, error) {
	if cfg == nil {
		cfg = NewConfig("orderstream-worker")
	}
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("new ack producer: %w", err)
	}
	if parts, err := client.Partitions(ackTopic); err != nil || len(parts) == 0 {
		client.Close()
		return nil, fmt.Errorf("new ack producer: partitions of %s: %d, %v", ackTopic, len(parts), err)
	}
	p, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("new ack producer: %w", err)
	}
	return &Replier{client: client, producer: p, ackTopic: ackTopic}, nil
}

// MaxCorrelationIDLen bounds the correlation id header of an event.
const MaxCorrelationIDLen = 256

// Route is where the ACK of one event goes.
type Route struct {
	Topic         string
	Partition     int32
	CorrelationID string
}

// Route reads where the ACK of m goes from its headers. ok is false when
// nobody waits (no reply topic: a republished event). An error means the
// headers are there but cannot be answered: another topic than the ACK
// topic, a partition it does not have, a missing or oversized correlation
// id. Check it before any work, so that such a message never gets as far
// as a produce that fails.
func (r *Replier) Route(m *sarama.ConsumerMessage) (rt Route, ok bool, err error) {
	h := ConsumerHeaders(m.Headers)
	topic := h.Get(HeaderReplyTopic)
	if topic == "" {
		return Route{}, false, nil
	}
	if topic != r.ackTopic {
		return Route{}, false, fmt.Errorf("reply topic %q is not the ACK topic %q", clip(topic), r.ackTopic)
	}
	raw := h.Get(HeaderReplyPartition)
	p, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || p < 0 {
		return Route{}, false, fmt.Errorf("bad %s header %q", HeaderReplyPartition, clip(raw))
	}
	parts, err := r.client.Partitions(r.ackTopic) // cached metadata
	if err != nil {
		return Route{}, false, order.Unavailable("Kafka", fmt.Errorf("partitions of %s: %w", r.ackTopic, err))
	}
	if int(p) >= len(parts) {
		return Route{}, false, fmt.Errorf("reply partition %d: %s has %d partitions", p, r.ackTopic, len(parts))
	}
	corr := h.Get(HeaderCorrelationID)
	if corr == "" || len(corr) > MaxCorrelationIDLen {
		return Route{}, false, fmt.Errorf("the %s header must have 1 to %d bytes, got %d", HeaderCorrelationID, MaxCorrelationIDLen, len(corr))
	}
	return Route{Topic: topic, Partition: int32(p), CorrelationID: corr}, true, nil
}

// clip shortens a header value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Reply produces ack for the event in req and returns once Kafka has stored
// it; ReplyMany for one message.
func (r *Replier) Reply(ctx context.Context, req *sarama.ConsumerMessage, ack order.Ack) error {
	return r.ReplyMany(ctx, []*sarama.ConsumerMessage{req}, []order.Ack{ack})[0]
}

// ReplyMany produces acks[i] for the event in reqs[i], all at once, and
// returns once Kafka has stored every one: for each message nil or its
// produce error (kafka.Permanent tells whether sending it again can help).
// A message without a route (nobody waits, or headers Route refuses) gets
// no ACK and nil. An ACK that Kafka refuses for its size or content is sent
// once more without the order (OrderOmitted: the API reads the order from
// the database), which always fits.
//
// With tracing on, each ACK gets a PRODUCER span "send <topic>" whose
// context travels in the ACK's headers. For a single event it is a child of
// the span in ctx (the worker's processing span, in the order's trace); in
// a batch of several it is a child of the event's own trace context, from
// its headers, with a link to the span in ctx (the batch), so that each
// order's trace goes on to its ACK.
func (r *Replier) ReplyMany(ctx context.Context, reqs []*sarama.ConsumerMessage, acks []order.Ack) []error {
	errs := make([]error, len(reqs))
	msgs := make([]*sarama.ProducerMessage, 0, len(reqs))
	index := make(map[*sarama.ProducerMessage]int, len(reqs))
	var spans []trace.Span
	if telemetry.Enabled() {
		spans = make([]trace.Span, 0, len(reqs))
		defer func() {
			for _, s := range spans {
				endSpan(s, errors.Join(errs...))
			}
		}()
	}
	for i, req := range reqs {
		rt, ok, err := r.Route(req)
		if err != nil || !ok {
			continue
		}
		value, err := EncodeAck(acks[i])
		if err != nil {
			errs[i] = fmt.Errorf("encode ack: %w", err)
			continue
		}
		headers := []sarama.RecordHeader{
			{Key: []byte(HeaderCorrelationID), Value: []byte(rt.CorrelationID)},
			{Key: []byte(HeaderContentType), Value: []byte(contentTypeJSON)},
		}
		if spans != nil {
			pctx, opts := ctx, []trace.SpanStartOption(nil)
			if len(reqs) > 1 {
				pctx = ExtractTrace(context.Background(), req)
				opts = append(opts, trace.WithLinks(trace.LinkFromContext(ctx)))
			}
			sctx, span := startProducerSpan(pctx, rt.Topic, acks[i].OrderID, acks[i].EventID, rt.CorrelationID, opts...)
			spans = append(spans, span)
			InjectTrace(sctx, &headers)
		}
		m := &sarama.ProducerMessage{Topic: rt.Topic, Partition: rt.Partition, Key: Key(acks[i].OrderID),
			Value: sarama.ByteEncoder(value), Headers: headers}
		index[m] = i
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return errs
	}
	err := r.producer.SendMessages(msgs)
	if err == nil {
		return errs
	}
	r.Metrics.ProduceError("ack")
	var perrs sarama.ProducerErrors
	if !errors.As(err, &perrs) {
		for _, m := range msgs {
			errs[index[m]] = fmt.Errorf("produce acks: %w", err)
		}
		return errs
	}
	var retry []*sarama.ProducerMessage
	for _, pe := range perrs {
		i, ok := index[pe.Msg]
		if !ok {
			continue
		}
		errs[i] = fmt.Errorf("produce ack of order %d event %d: %w", acks[i].OrderID, acks[i].EventID, pe.Err)
		if Permanent(pe.Err) && !acks[i].OrderOmitted {
			compact := acks[i]
			compact.Order, compact.OrderOmitted = order.Order{}, true
			value, err := EncodeAck(compact)
			if err != nil {
				continue
			}
			m := &sarama.ProducerMessage{Topic: pe.Msg.Topic, Partition: pe.Msg.Partition, Key: pe.Msg.Key,
				Value: sarama.ByteEncoder(value), Headers: pe.Msg.Headers}
			index[m] = i
			retry = append(retry, m)
		}
	}
	if len(retry) == 0 {
		return errs
	}
	for _, m := range retry {
		errs[index[m]] = nil
	}
	if err := r.producer.SendMessages(retry); err != nil {
		if errors.As(err, &perrs) {
			for _, pe := range perrs {
				if i, ok := index[pe.Msg]; ok {
					errs[i] = fmt.Errorf("produce ack of order %d event %d without the order: %w", acks[i].OrderID, acks[i].EventID, pe.Err)
				}
			}
		} else {
			for _, m := range retry {
				errs[index[m]] = fmt.Errorf("produce acks without the order: %w", err)
			}
		}
	}
	return errs
}

// Close flushes and closes the producer.
func (r *Replier) Close() error { return errors.Join(r.producer.Close(), r.client.Close()) }

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
