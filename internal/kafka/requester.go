package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// RequesterConfig configures a Requester.
type RequesterConfig struct {
	Brokers  []string
	Topic    string // the orders topic
	AckTopic string // where this instance reads its ACKs
	// InstanceID names this API instance; correlation ids start with it and
	// a random per-process nonce, so that an instance ignores the ACKs meant
	// for another one, and for an earlier process with the same InstanceID.
	InstanceID string
	// ReplyPartition is the ACK topic partition this instance reads; -1
	// picks one from a hash of InstanceID. Instances may share a partition.
	ReplyPartition int32
	Log            *slog.Logger
	// Metrics records ACK waits and Kafka errors; nil: none.
	Metrics *metrics.Metrics
	// Config overrides the sarama configuration (tests); nil: NewConfig.
	Config *sarama.Config
	// MaxMessageBytes, when positive, bounds the messages produced
	// (KAFKA_MAX_MESSAGE_BYTES); 0 keeps the configuration's.
	MaxMessageBytes int
	// ProduceTimeout bounds the wait for Kafka to store an event
	// (KAFKA_PRODUCE_TIMEOUT; 0 means DefaultProduceTimeout). When it
	// passes, Dispatch returns EUNAVAILABLE at once, while the producer
	// keeps trying: the event is stored, so nothing is lost, and the client
	// is not kept waiting for a cluster that cannot take writes (below
	// min.insync.replicas a produce waits for the broker's request timeout
	// on every retry: minutes).
	ProduceTimeout time.Duration
}

// DefaultProduceTimeout is the default RequesterConfig.ProduceTimeout.
const DefaultProduceTimeout = 5 * time.Second

// Requester sends order events and waits for their ACKs: Kafka
// request-reply. Each event carries a correlation id and the ACK topic and
// partition to answer to in its headers; the Requester reads that partition
// and hands each ACK to the request waiting for it. It implements
// order.Dispatcher and is safe for concurrent use.
type Requester struct {
	cfg      RequesterConfig
	client   sarama.Client // the producer's
	producer sarama.AsyncProducer
	consumer sarama.Consumer
	pc       sarama.PartitionConsumer
	log      *slog.Logger
	prefix   string
	seq      atomic.Uint64
	done     chan struct{}
	wg       sync.WaitGroup

	mu      sync.Mutex
	waiters map[string]*waiter

	closeMu sync.RWMutex
	closed  bool
}

type waiter struct {
	ack      chan order.Ack
	produced chan error
	// What was sent: an ACK must name the same order and event (and the
	// order's user), or it answers another request and is dropped.
	orderID int64
	eventID int
	userID  string
	// sc is the span context of the request's produce span: the parent of
	// the ACK's consume span when the ACK carries no trace context.
	sc trace.SpanContext
}

var _ order.Dispatcher = (*Requester)(nil)

// NewRequester connects to Kafka and starts reading ACKs from the newest
// offset of its reply partition, before any event is sent.
func NewRequester(cfg RequesterConfig) (*Requester, error) {
	if cfg.InstanceID == "" || strings.Contains(cfg.InstanceID, ":") {
		return nil, errors.New("new requester: InstanceID must be set and contain no ':'")
	}
	sc := cfg.Config
	if sc == nil {
		sc = NewConfig("orderstream-api")
	}
	if cfg.MaxMessageBytes > 0 {
		sc.Producer.MaxMessageBytes = cfg.MaxMessageBytes
	}
	// The nonce makes correlation ids unique across restarts: a process
	// restarted with the same InstanceID starts its counter at 1 again, and
	// must not take the ACKs of old events (redelivered after an offset
	// reset or a rebalance) for its own.
	r := &Requester{cfg: cfg, log: cfg.Log, prefix: cfg.InstanceID + ":" + nonce() + ":", waiters: map[string]*waiter{}, done: make(chan struct{})}
	if r.log == nil {
		r.log = slog.Default()
	}
	var err error
	if r.consumer, err = sarama.NewConsumer(cfg.Brokers, sc); err != nil {
		return nil, fmt.Errorf("new ack consumer: %w", err)
	}
	parts, err := r.consumer.Partitions(cfg.AckTopic)
	if err != nil || len(parts) == 0 {
		r.consumer.Close()
		return nil, fmt.Errorf("list partitions of %s: %v", cfg.AckTopic, err)
	}
	p := cfg.ReplyPartition
	if p < 0 {
		p = ReplyPartitionFor(cfg.InstanceID, len(parts))
	}
	r.cfg.ReplyPartition = p
	if r.pc, err = r.consumer.ConsumePartition(cfg.AckTopic, p, sarama.OffsetNewest); err != nil {
		r.consumer.Close()
		return nil, fmt.Errorf("consume %s/%d: %w", cfg.AckTopic, p, err)
	}
	// The producer gets a client (and so connections) of its own: with one
	// request in flight per connection, a produce must not queue behind the
	// ACK consumer's long-poll fetch.
	if r.client, err = sarama.NewClient(cfg.Brokers, sc); err == nil {
		r.producer, err = sarama.NewAsyncProducerFromClient(r.client)
		if err != nil {
			r.client.Close()
		}
	}
	if err != nil {
		r.pc.Close()
		r.consumer.Close()
		return nil, fmt.Errorf("new event producer: %w", err)
	}
	r.wg.Add(3)
	go r.readAcks()
	go r.readSuccesses()
	go r.readErrors()
	r.log.Info("kafka requester ready", "topic", cfg.Topic, "ack_topic", cfg.AckTopic, "reply_partition", p, "instance", cfg.InstanceID)
	return r, nil
}

// Ready reports whether Kafka answers: it refreshes the metadata of the
// orders topic, within ctx.
func (r *Requester) Ready(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- r.client.RefreshMetadata(r.cfg.Topic) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dispatch implements order.Dispatcher: it produces ev and waits for its ACK.
func (r *Requester) Dispatch(ctx context.Context, ev order.Event) (order.Ack, error) {
	value, err := EncodeEvent(ev)
	if err != nil {
		return order.Ack{}, fmt.Errorf("encode event: %w", err)
	}
	corr := r.prefix + strconv.FormatUint(r.seq.Add(1), 10)
	w := &waiter{ack: make(chan order.Ack, 1), produced: make(chan error, 1), orderID: ev.OrderID, eventID: ev.EventID, userID: ev.UserID}
	// The produce span covers the send until Kafka has stored the event;
	// its context travels in the headers to the worker.
	pctx, span := startProducerSpan(ctx, r.cfg.Topic, ev.OrderID, ev.EventID, corr)
	w.sc = span.SpanContext()
	// Register before producing: the ACK can arrive before Input returns.
	r.mu.Lock()
	r.waiters[corr] = w
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, corr)
		r.mu.Unlock()
	}()
	msg := r.message(pctx, ev, value, w, []sarama.RecordHeader{
		{Key: []byte(HeaderCorrelationID), Value: []byte(corr)},
		{Key: []byte(HeaderReplyTopic), Value: []byte(r.cfg.AckTopic)},
		{Key: []byte(HeaderReplyPartition), Value: []byte(strconv.Itoa(int(r.cfg.ReplyPartition)))},
	})
	done := r.cfg.Metrics.AckWaitStarted()
	if err := r.send(ctx, msg); err != nil {
		endSpan(span, err)
		done("error")
		return order.Ack{}, err
	}
	if r.log.Enabled(ctx, slog.LevelDebug) { // the arguments would allocate even when not logged
		r.log.DebugContext(ctx, "event sent", "order_id", ev.OrderID, "event_id", ev.EventID, "correlation_id", corr)
	}
	produced := w.produced
	pt := r.cfg.ProduceTimeout
	if pt <= 0 {
		pt = DefaultProduceTimeout
	}
	produceDeadline := time.NewTimer(pt)
	defer produceDeadline.Stop()
	for {
		select {
		case <-produceDeadline.C:
			if produced == nil {
				continue // stored already: wait for the ACK
			}
			endSpan(span, errProduceTimeout)
			done("error")
			r.cfg.Metrics.ProduceError("event")
			return order.Ack{}, order.Unavailable("Kafka", fmt.Errorf("produce order %d event %d: %w after %s", ev.OrderID, ev.EventID, errProduceTimeout, pt))
		case err := <-produced:
			endSpan(span, err)
			if err != nil {
				done("error")
				return order.Ack{}, produceError(ev, err)
			}
			produced = nil
		case ack := <-w.ack:
			if ack.Outcome.OK {
				done("ok")
			} else {
				done("nack")
			}
			return ack, nil
		case <-ctx.Done():
			if produced != nil {
				endSpan(span, ctx.Err())
			}
			done("timeout")
			r.log.InfoContext(ctx, "stopped waiting for ack", "order_id", ev.OrderID, "event_id", ev.EventID,
				"correlation_id", corr, "reason", ctx.Err().Error())
			return order.Ack{}, ctx.Err()
		}
	}
}

// Publish produces ev without asking for an ACK and returns once Kafka has
// stored it: the recovery loop's way to send an event nobody waits for.
// The original request's trace context is not stored with the event, so
// with tracing on a republish starts a trace of its own (the span is a root
// unless ctx holds one) with the order and event ids as attributes.
func (r *Requester) Publish(ctx context.Context, ev order.Event) (err error) {
	value, err := EncodeEvent(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	ctx, span := startProducerSpan(ctx, r.cfg.Topic, ev.OrderID, ev.EventID, "")
	defer func() { endSpan(span, err) }()
	if span.IsRecording() {
		span.SetAttributes(AttrEventType.String(string(ev.Type)), attribute.Bool("orderstream.republish", true))
	}
	w := &waiter{produced: make(chan error, 1)}
	if err := r.send(ctx, r.message(ctx, ev, value, w, nil)); err != nil {
		return err
	}
	pt := r.cfg.ProduceTimeout
	if pt <= 0 {
		pt = DefaultProduceTimeout
	}
	timeout := time.NewTimer(pt)
	defer timeout.Stop()
	select {
	case err := <-w.produced:
		if err != nil {
			return produceError(ev, err)
		}
		return nil
	case <-timeout.C:
		return order.Unavailable("Kafka", fmt.Errorf("publish order %d event %d: %w after %s", ev.OrderID, ev.EventID, errProduceTimeout, pt))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// message builds the event message; the trace context of ctx goes into its
// headers when tracing is on.
func (r *Requester) message(ctx context.Context, ev order.Event, value []byte, w *waiter, headers []sarama.RecordHeader) *sarama.ProducerMessage {
	headers = append(headers, sarama.RecordHeader{Key: []byte(HeaderContentType), Value: []byte(contentTypeJSON)})
	InjectTrace(ctx, &headers)
	return &sarama.ProducerMessage{
		Topic:    r.cfg.Topic,
		Key:      Key(ev.OrderID),
		Value:    sarama.ByteEncoder(value),
		Headers:  headers,
		Metadata: w,
	}
}

func (r *Requester) send(ctx context.Context, msg *sarama.ProducerMessage) error {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return order.Unavailable("Kafka", errors.New("requester closed"))
	}
	select {
	case r.producer.Input() <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Requester) readSuccesses() {
	defer r.wg.Done()
	for m := range r.producer.Successes() {
		if w, ok := m.Metadata.(*waiter); ok {
			w.produced <- nil
		}
	}
}

func (r *Requester) readErrors() {
	defer r.wg.Done()
	for e := range r.producer.Errors() {
		r.log.Error("produce order event", "order_id", string(keyBytes(e.Msg.Key)), "err", e.Err)
		r.cfg.Metrics.ProduceError("event")
		if w, ok := e.Msg.Metadata.(*waiter); ok {
			w.produced <- e.Err
		}
	}
}

func (r *Requester) readAcks() {
	defer r.wg.Done()
	go func() {
		for err := range r.pc.Errors() {
			r.log.Warn("consume acks", "err", err)
			r.cfg.Metrics.ConsumeError("ack")
		}
	}()
	for m := range r.pc.Messages() {
		corr := Header(m, HeaderCorrelationID)
		if !strings.HasPrefix(corr, r.prefix) {
			continue // another instance's ACK on a shared partition
		}
		ack, err := DecodeAck(m.Value)
		if err != nil {
			r.log.Error("drop undecodable ack", "correlation_id", corr, "offset", m.Offset, "err", err)
			continue
		}
		r.mu.Lock()
		w := r.waiters[corr]
		r.mu.Unlock()
		ctx, span := r.startAckSpan(m, w, ack, corr)
		if w == nil {
			r.cfg.Metrics.LateAck()
			r.log.InfoContext(ctx, "late ack dropped: nobody waits for it", "correlation_id", corr, "order_id", ack.OrderID, "event_id", ack.EventID)
			span.End()
			continue
		}
		if problem := w.mismatch(ack); problem != "" {
			// Never hand a request an answer about another order or user:
			// the ACK of another event (a replay, a forged message) whose
			// correlation id happens to match.
			r.cfg.Metrics.AckMismatch()
			r.log.WarnContext(ctx, "ack dropped: it does not answer the request that waits for this correlation id",
				"correlation_id", corr, "problem", problem, "ack_order_id", ack.OrderID, "ack_event_id", ack.EventID,
				"order_id", w.orderID, "event_id", w.eventID, "partition", m.Partition, "offset", m.Offset)
			span.End()
			continue
		}
		select {
		case w.ack <- ack:
		default: // a second ACK for the same request: the first one won
		}
		span.End()
	}
}

// mismatch says why ack does not answer the request of w, "" when it does.
func (w *waiter) mismatch(ack order.Ack) string {
	switch {
	case ack.OrderID != w.orderID || ack.EventID != w.eventID:
		return fmt.Sprintf("the ack is for order %d event %d", ack.OrderID, ack.EventID)
	case ack.Order.ID != 0 && ack.Order.ID != w.orderID:
		return fmt.Sprintf("the ack carries order %d", ack.Order.ID)
	case w.userID != "" && ack.Order.UserID != "" && ack.Order.UserID != w.userID:
		return "the ack carries another user's order"
	}
	return ""
}

// produceError turns the failure to produce ev into the error Dispatch
// and Publish return: EUNAVAILABLE when the cluster is at fault (the event
// is stored: it is sent again), an EPROCESSING *Error when the message
// itself is refused (Permanent): sending it again cannot help.
func produceError(ev order.Event, err error) error {
	err = fmt.Errorf("produce order %d event %d: %w", ev.OrderID, ev.EventID, err)
	if Permanent(err) {
		return &order.Error{Code: order.EPROCESSING, Message: "the event cannot be sent to the worker", Err: err}
	}
	return order.Unavailable("Kafka", err)
}

// errProduceTimeout: Kafka did not store an event within ProduceTimeout.
var errProduceTimeout = errors.New("Kafka did not store the event in time")

// nonce returns 8 random hex digits.
func nonce() string {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// startAckSpan starts the CONSUMER span "process <ack topic>" of an ACK:
// a child of the worker's ACK produce span when the ACK carries its trace
// context, else of the waiting request's produce span, so that the ACK ends
// up in the order's trace either way.
func (r *Requester) startAckSpan(m *sarama.ConsumerMessage, w *waiter, ack order.Ack, corr string) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return context.Background(), noopSpan
	}
	ctx := ExtractTrace(context.Background(), m)
	if !trace.SpanContextFromContext(ctx).IsValid() && w != nil && w.sc.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, w.sc)
	}
	ctx, span := telemetry.Start(ctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(messagingAttrs(m.Topic, "process", ack.OrderID, ack.EventID, corr)...)
		span.SetAttributes(attribute.Int("messaging.destination.partition.id", int(m.Partition)),
			attribute.Int64("messaging.kafka.offset", m.Offset), attribute.Bool("orderstream.ack.ok", ack.Outcome.OK),
			attribute.Bool("orderstream.ack.late", w == nil))
	}
	return ctx, span
}

func keyBytes(k sarama.Encoder) []byte {
	if k == nil {
		return nil
	}
	b, _ := k.Encode()
	return b
}

// Close stops sending, flushes the producer and stops reading ACKs.
// Requests still waiting end with their context.
func (r *Requester) Close() error {
	r.closeMu.Lock()
	if r.closed {
		r.closeMu.Unlock()
		return nil
	}
	r.closed = true
	r.closeMu.Unlock()
	perr := r.producer.Close()
	cerr := r.pc.Close()
	r.wg.Wait()
	return errors.Join(perr, cerr, r.consumer.Close(), r.client.Close())
}
