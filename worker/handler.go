package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

// applier is what the handler needs from the database.
type applier interface {
	MarkProcessing(ctx context.Context, orderID int64, eventID int) error
	ApplyEvents(ctx context.Context, orderID int64, eventID int) (order.Ack, error)
	MarkFailed(ctx context.Context, orderID int64, reason string) error
}

// replier sends ACKs to the API instance that waits for them, and
// dead-letters messages that cannot be processed.
type replier interface {
	Reply(req *sarama.ConsumerMessage, ack order.Ack) error
	DeadLetter(topic string, m *sarama.ConsumerMessage, reason string) error
}

// handler is the sarama consumer group handler of the orders topic.
type handler struct {
	store   applier
	replier replier
	log     *slog.Logger
	// dlqTopic receives the messages that cannot be processed.
	dlqTopic string
	// maxAttempts is how often a message that fails for a reason other than
	// an unavailable database or broker is tried before it is dead-lettered.
	maxAttempts int
	// messageTimeout bounds the work on one message once started.
	messageTimeout time.Duration
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.log.Info("partitions assigned", "claims", s.Claims(), "generation", s.GenerationID())
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.log.Info("partitions released", "generation", s.GenerationID())
	return nil
}

// ConsumeClaim runs in sarama's goroutine: it starts no other, and returns
// when the session ends. An offset is marked only after the database commit
// and the ACK (or the dead-lettering); a message not marked is delivered again.
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			if err := h.handle(s.Context(), m); err != nil {
				return fmt.Errorf("handle %s/%d offset %d: %w", m.Topic, m.Partition, m.Offset, err) // unmarked: redelivered
			}
			s.MarkMessage(m, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// handle processes one message. Failures because PostgreSQL or Kafka is
// unavailable are retried with backoff for as long as the session lasts;
// other failures maxAttempts times, then the message is dead-lettered and
// its order marked FAILED, so that the partition keeps moving.
func (h *handler) handle(ctx context.Context, m *sarama.ConsumerMessage) error {
	ev, err := kafka.DecodeEvent(m.Value)
	if err != nil {
		return h.poison(ctx, m, orderIDOf(m.Value), "undecodable event: "+err.Error())
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := h.process(ctx, m, ev)
		if err == nil {
			return nil
		}
		transient := order.ErrorCode(err) == order.EUNAVAILABLE
		if !transient && attempt >= h.attempts() {
			return h.poison(ctx, m, ev.OrderID, fmt.Sprintf("failed %d times: %v", attempt, err))
		}
		h.log.Warn("process event failed, retrying", "order_id", ev.OrderID, "event_id", ev.EventID,
			"attempt", attempt, "transient", transient, "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (h *handler) attempts() int {
	if h.maxAttempts <= 0 {
		return 5
	}
	return h.maxAttempts
}

func (h *handler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := h.messageTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}

// process applies one event and ACKs it. Once started it is not interrupted
// by the end of the session, so a shutdown does not cut a transaction.
func (h *handler) process(ctx context.Context, m *sarama.ConsumerMessage, ev order.Event) error {
	ctx, cancel := h.detached(ctx)
	defer cancel()
	if err := h.store.MarkProcessing(ctx, ev.OrderID, ev.EventID); err != nil {
		return err
	}
	ack, err := h.store.ApplyEvents(ctx, ev.OrderID, ev.EventID)
	if err != nil {
		return err
	}
	if err := h.replier.Reply(m, ack); err != nil {
		return order.Unavailable("Kafka", err)
	}
	h.log.Debug("event processed", "order_id", ev.OrderID, "event_id", ev.EventID, "ok", ack.Outcome.OK,
		"duplicate", ack.Duplicate, "status", ack.Order.Status, "correlation_id", kafka.Header(m, kafka.HeaderCorrelationID))
	return nil
}

// poison dead-letters m, marks its order FAILED when it is known, and
// answers the waiting request, if any, with PROCESSING_FAILED. It fails only
// when the dead-letter topic cannot be written: then m is not marked.
func (h *handler) poison(ctx context.Context, m *sarama.ConsumerMessage, orderID int64, reason string) error {
	h.log.Error("dead-lettering event", "partition", m.Partition, "offset", m.Offset, "order_id", orderID, "reason", reason)
	if err := h.replier.DeadLetter(h.dlqTopic, m, reason); err != nil {
		return err
	}
	ack := order.Ack{OrderID: orderID, Outcome: order.Outcome{Code: order.EPROCESSING, Reason: "the event could not be processed"}}
	if orderID > 0 {
		dctx, cancel := h.detached(ctx)
		defer cancel()
		if err := h.store.MarkFailed(dctx, orderID, reason); err != nil {
			h.log.Warn("mark dead-lettered order failed", "order_id", orderID, "err", err)
		}
	}
	if err := h.replier.Reply(m, ack); err != nil {
		h.log.Warn("nack dead-lettered event", "order_id", orderID, "err", err)
	}
	return nil
}

// orderIDOf digs the order id out of a message that is not a valid event,
// when it has one.
func orderIDOf(value []byte) int64 {
	var v struct {
		OrderID int64 `json:"order_id"`
	}
	if json.Unmarshal(value, &v) != nil || v.OrderID < 0 {
		return 0
	}
	return v.OrderID
}
