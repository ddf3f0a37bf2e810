package main

import (
	"context"
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
}

// replier sends an ACK to the API instance that waits for it.
type replier interface {
	Reply(req *sarama.ConsumerMessage, ack order.Ack) error
}

// handler is the sarama consumer group handler of the orders topic.
type handler struct {
	store   applier
	replier replier
	log     *slog.Logger
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
// and the ACK; a message not marked is delivered again.
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

// handle processes one message, retrying transient failures (database or
// Kafka down) with backoff for as long as the session lasts.
func (h *handler) handle(ctx context.Context, m *sarama.ConsumerMessage) error {
	ev, err := kafka.DecodeEvent(m.Value)
	if err != nil {
		// Not an event we can identify: nothing to apply. Answer it if
		// someone waits, and move on so the partition keeps flowing.
		h.log.Error("skip undecodable event", "partition", m.Partition, "offset", m.Offset, "err", err)
		nack := order.Ack{Outcome: order.Outcome{Code: order.EPROCESSING, Reason: "undecodable event"}}
		if rerr := h.replier.Reply(m, nack); rerr != nil {
			h.log.Warn("nack undecodable event", "err", rerr)
		}
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		err := h.process(ctx, m, ev)
		if err == nil {
			return nil
		}
		h.log.Warn("process event failed, retrying", "order_id", ev.OrderID, "event_id", ev.EventID, "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// process applies one event and ACKs it. Once started it is not interrupted
// by the end of the session, so a shutdown does not cut a transaction.
func (h *handler) process(ctx context.Context, m *sarama.ConsumerMessage, ev order.Event) error {
	timeout := h.messageTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := h.store.MarkProcessing(ctx, ev.OrderID, ev.EventID); err != nil {
		return err
	}
	ack, err := h.store.ApplyEvents(ctx, ev.OrderID, ev.EventID)
	if err != nil {
		return err
	}
	if err := h.replier.Reply(m, ack); err != nil {
		return err
	}
	h.log.Debug("event processed", "order_id", ev.OrderID, "event_id", ev.EventID, "ok", ack.Outcome.OK,
		"duplicate", ack.Duplicate, "status", ack.Order.Status, "correlation_id", kafka.Header(m, kafka.HeaderCorrelationID))
	return nil
}
