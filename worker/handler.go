package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/codes"

	"github.com/orderstream/orderstream/internal/backoff"
	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/metrics"
	"github.com/orderstream/orderstream/internal/order"
)

// applier is what the handler needs from the domain: the worker's use
// case (order.Processor), and marking an order FAILED when its events keep
// failing.
type applier interface {
	Process(ctx context.Context, keys []order.EventKey, hints [][]byte) ([]order.Answer, error)
	MarkFailed(ctx context.Context, orderID int64, reason string) error
}

// replier sends ACKs to the API instances that wait for them, and
// dead-letters messages that cannot be processed (kafka.Replier).
type replier interface {
	Route(m *sarama.ConsumerMessage) (kafka.Route, bool, error)
	ReplyMany(ctx context.Context, reqs []*sarama.ConsumerMessage, acks []order.Ack) []error
	Reply(ctx context.Context, req *sarama.ConsumerMessage, ack order.Ack) error
	DeadLetter(topic string, m *sarama.ConsumerMessage, reason string) error
}

// handler is the sarama consumer group handler of the orders topic. It
// works in micro-batches: whatever messages of a partition are waiting (up
// to batchSize, merged with other partitions' by the combiner) are applied
// in one transaction and ACKed together, and only then are their offsets
// marked. No message can stop its partition: one that cannot be processed
// or answered is dead-lettered with its reason, and the partition moves on.
type handler struct {
	store   applier
	replier replier
	log     *slog.Logger
	// dlqTopic receives the messages that cannot be processed.
	dlqTopic string
	// maxAttempts is how often a message that fails for a reason other than
	// an unavailable database or broker is tried before it is dead-lettered.
	maxAttempts int
	// batchSize bounds a micro-batch (default 256).
	batchSize int
	metrics   *metrics.Metrics
	// combiner, when set, merges the batches of several partitions into one
	// transaction; a merged batch that fails is retried partition by
	// partition below, with the failure handling of a single batch.
	combiner *combiner
	// createsFromMessages passes the items hints of creates' messages to
	// the store (WORKER_CREATES_FROM_MESSAGES): see order.PlanCreates.
	createsFromMessages bool
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.log.Info("partitions assigned", "claims", s.Claims(), "generation", s.GenerationID())
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	for topic, partitions := range s.Claims() {
		for _, p := range partitions {
			h.metrics.ForgetLag(topic, p)
		}
	}
	h.log.Info("partitions released", "generation", s.GenerationID())
	return nil
}

// ConsumeClaim runs in sarama's goroutine: it starts no other, and returns
// when the session ends. Offsets are marked only after the database commit
// and the ACKs (or the dead-lettering); messages not marked are delivered again.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			batch := h.collect(m, c.Messages())
			if err := h.handle(s.Context(), batch); err != nil {
				return fmt.Errorf("handle %s/%d offsets %d-%d: %w", m.Topic, m.Partition, m.Offset, batch[len(batch)-1].Offset, err)
			}
			// Marking the last marks them all: a partition's offset only moves forward.
			last := batch[len(batch)-1]
			s.MarkMessage(last, "")
			h.metrics.Lag(last.Topic, last.Partition, c.HighWaterMarkOffset()-last.Offset-1)
		case <-s.Context().Done():
			return nil
		}
	}
}

// collect returns first and the messages already waiting behind it, up to
// batchSize: a batch never waits for more messages to come.
func (h *handler) collect(first *sarama.ConsumerMessage, more <-chan *sarama.ConsumerMessage) []*sarama.ConsumerMessage {
	size := h.maxBatch()
	batch := []*sarama.ConsumerMessage{first}
	for len(batch) < size {
		select {
		case m, ok := <-more:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// maxBatch is the most messages in a batch (batchSize, default 256).
func (h *handler) maxBatch() int {
	if h.batchSize <= 0 {
		return config.DefaultWorkerBatchSize
	}
	return h.batchSize
}

type item struct {
	m     *sarama.ConsumerMessage
	key   order.EventKey
	items []byte // the create's items the message carries, if any (kafka.DecodeEvent)
}

// handle processes a batch. Messages that cannot be processed at all (not
// an event, reply headers that cannot be answered) are dead-lettered first,
// without touching the database. The rest is processed: failures because
// PostgreSQL or Kafka is unavailable are retried with backoff for as long
// as the session lasts; other failures maxAttempts times, then the batch is
// split to find the message at fault, which is dead-lettered and its order
// marked FAILED, so that the partition keeps moving.
func (h *handler) handle(ctx context.Context, batch []*sarama.ConsumerMessage) error {
	items := make([]item, 0, len(batch))
	for _, m := range batch {
		key, hint, err := kafka.DecodeEvent(m.Value)
		if err != nil {
			if err := h.deadLetter(ctx, m, "undecodable", "undecodable event: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		if _, _, err := h.replier.Route(m); err != nil {
			if order.ErrorCode(err) == order.EUNAVAILABLE {
				return err // the ACK topic's metadata: retried with the session
			}
			// The stored event is untouched: the recovery loop sends it again.
			if err := h.deadLetter(ctx, m, "bad_headers", "reply headers cannot be answered: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		items = append(items, item{m: m, key: key, items: hint})
	}
	if len(items) == 0 {
		return nil
	}
	if h.combiner != nil {
		err := h.combiner.submit(ctx, items)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errCombinerStopped) {
			h.log.Warn("merged batch failed, processing this partition's batch alone", "size", len(items), "err", err)
		}
	}
	return h.retry(ctx, items)
}

// retry processes items alone (never merged), retrying as handle says.
func (h *handler) retry(ctx context.Context, items []item) error {
	wait := backoff.New(backoff.DefaultInitial, backoff.DefaultMax)
	failures := 0 // only failures that are not an unavailable database or broker count
	for attempt := 1; ; attempt++ {
		err := h.process(ctx, items)
		if err == nil {
			return nil
		}
		transient := order.ErrorCode(err) == order.EUNAVAILABLE
		if !transient {
			failures++
		}
		if !transient && failures >= h.attempts() {
			if len(items) == 1 {
				return h.poison(ctx, items[0].m, items[0].key.OrderID, fmt.Sprintf("failed %d times: %v", failures, err))
			}
			h.log.WarnContext(ctx, "batch keeps failing: processing its messages one by one", "size", len(items), "err", err)
			// Alone, not merged again: the message at fault must not fail
			// other partitions' batches once more.
			for _, it := range items {
				if err := h.retry(ctx, []item{it}); err != nil {
					return err
				}
			}
			return nil
		}
		h.log.WarnContext(ctx, "process batch failed, retrying", "size", len(items), "first_order_id", items[0].key.OrderID,
			"first_event_id", items[0].key.EventID, "first_correlation_id", kafka.Header(items[0].m, kafka.HeaderCorrelationID),
			"attempt", attempt, "transient", transient, "err", err, "in", wait.Peek().String())
		if wait.Sleep(ctx) != nil {
			return err
		}
	}
}

func (h *handler) attempts() int {
	if h.maxAttempts <= 0 {
		return config.DefaultMaxAttempts
	}
	return h.maxAttempts
}

// batchTimeout bounds the work on one batch once started.
const batchTimeout = 30 * time.Second

func (h *handler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
}

// process applies a batch of events and answers them: PROCESSING and the
// events in one round trip to the database when the batch holds only creates
// planned from their messages, two otherwise; the ACKs in one produce. Once
// started it is not interrupted by the end of the session, so a shutdown
// does not cut a transaction. An ACK that Kafka refuses for good, and a
// message of an order or event that does not exist, are dead-lettered; an
// unavailable broker fails the batch, which is then retried (the database
// answers a redelivered event from its stored outcome).
func (h *handler) process(ctx context.Context, items []item) (err error) {
	start := time.Now()
	ctx, cancel := h.detached(ctx)
	defer cancel()
	ctx, span := startBatchSpan(ctx, items)
	defer func() {
		if err != nil && span.IsRecording() {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	keys := make([]order.EventKey, len(items))
	msgs := make([]*sarama.ConsumerMessage, len(items))
	var hints [][]byte // nil: every event is read first (order.Processor.Process)
	if h.createsFromMessages {
		hints = make([][]byte, len(items))
	}
	for i, it := range items {
		keys[i], msgs[i] = it.key, it.m
		if hints != nil {
			hints[i] = it.items
		}
	}
	answers, err := h.store.Process(ctx, keys, hints)
	if err != nil {
		return err
	}
	acks := make([]order.Ack, len(answers))
	for i, a := range answers {
		acks[i] = a.Ack
	}
	errs := h.replier.ReplyMany(ctx, msgs, acks)
	for _, err := range errs {
		if err != nil && !kafka.Permanent(err) {
			return order.Unavailable("Kafka", err)
		}
	}
	var ok, nack, dup, fromMessages int
	for i, a := range answers {
		if a.FromMessage {
			fromMessages++
		}
		switch {
		case errs[i] != nil:
			// Applied, but the answer cannot be produced: the waiting request
			// times out and reads the order (ACK_TIMEOUT with its state).
			if err := h.deadLetter(ctx, msgs[i], "unanswerable", "the ACK cannot be produced: "+errs[i].Error()); err != nil {
				return err
			}
		case a.DeadLetter != "":
			kind := "unknown_event"
			if a.Ack.Order.ID == 0 {
				kind = "unknown_order"
			}
			if err := h.deadLetter(ctx, msgs[i], kind, a.DeadLetter); err != nil {
				return err
			}
		}
		switch {
		case a.Ack.Duplicate:
			dup++
		case a.Ack.Outcome.OK:
			ok++
		default:
			nack++
		}
	}
	h.metrics.Batch(len(acks), time.Since(start), ok, nack, dup, fromMessages)
	if h.log.Enabled(ctx, slog.LevelDebug) {
		for i, ack := range acks {
			h.log.DebugContext(ctx, "event processed", "order_id", ack.OrderID, "event_id", ack.EventID, "ok", ack.Outcome.OK,
				"duplicate", ack.Duplicate, "status", ack.Order.Status, "batch", len(acks),
				"correlation_id", kafka.Header(msgs[i], kafka.HeaderCorrelationID))
		}
	}
	return nil
}

// deadLetter copies m to the dead-letter topic with reason, logged at WARN:
// the message names nothing the worker can process or answer, and the
// partition moves on. It fails only when the dead-letter topic cannot be
// written now (then m is not marked, and is processed again).
func (h *handler) deadLetter(ctx context.Context, m *sarama.ConsumerMessage, kind, reason string) error {
	reason = clip(reason)
	h.log.WarnContext(kafka.ExtractTrace(ctx, m), "dead-lettering message", "kind", kind, "partition", m.Partition, "offset", m.Offset,
		"correlation_id", clip(kafka.Header(m, kafka.HeaderCorrelationID)), "reason", reason)
	if err := h.replier.DeadLetter(h.dlqTopic, m, reason); err != nil {
		if kafka.Permanent(err) {
			// Not even a copy fits: log it and move on rather than stop the partition.
			h.log.ErrorContext(ctx, "dead-letter topic refuses the message: dropped", "partition", m.Partition, "offset", m.Offset, "err", err)
			return nil
		}
		return order.Unavailable("Kafka", err)
	}
	h.metrics.DeadLetter(kind)
	return nil
}

// maxReason bounds the reasons stored and sent with a dead letter.
const maxReason = 1000

func clip(s string) string {
	if len(s) > maxReason {
		return s[:maxReason] + "…"
	}
	return s
}

// poison dead-letters m, whose order's events keep failing, marks its
// order FAILED (nothing republishes its events then), and answers the
// waiting request, if any, with PROCESSING_FAILED. It fails only when the
// dead-letter topic cannot be written: then m is not marked.
func (h *handler) poison(ctx context.Context, m *sarama.ConsumerMessage, orderID int64, reason string) error {
	ctx = kafka.ExtractTrace(ctx, m)
	reason = clip(reason)
	h.log.ErrorContext(ctx, "dead-lettering event", "partition", m.Partition, "offset", m.Offset, "order_id", orderID,
		"correlation_id", kafka.Header(m, kafka.HeaderCorrelationID), "reason", reason)
	if err := h.deadLetter(ctx, m, "failing", reason); err != nil {
		return err
	}
	dctx, cancel := h.detached(ctx)
	defer cancel()
	if err := h.store.MarkFailed(dctx, orderID, reason); err != nil {
		h.log.WarnContext(ctx, "mark dead-lettered order failed", "order_id", orderID, "err", err)
	}
	ack := order.Ack{OrderID: orderID, Outcome: order.Outcome{Code: order.EPROCESSING, Reason: "the event could not be processed"}}
	if err := h.replier.Reply(ctx, m, ack); err != nil {
		h.log.WarnContext(ctx, "nack dead-lettered event", "order_id", orderID, "err", err)
	}
	return nil
}
