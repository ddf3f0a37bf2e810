package kafka_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
	"github.com/orderstream/orderstream/internal/order"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRequester(t *testing.T, b *kafkatest.Broker, instance string) *kafka.Requester {
	t.Helper()
	r, err := kafka.NewRequester(kafka.RequesterConfig{
		Brokers: b.Brokers, Topic: b.OrdersTopic, AckTopic: b.AcksTopic, InstanceID: instance, ReplyPartition: -1, Log: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// echoWorker answers every event on the orders topic with an OK ACK through
// a Replier, like the worker does, and reports the partition of each event.
func echoWorker(t *testing.T, b *kafkatest.Broker, seen chan<- [2]int64) {
	t.Helper()
	rep, err := kafka.NewReplier(b.Brokers, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	c, err := sarama.NewConsumer(b.Brokers, kafka.NewConfig("test-echo"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for p := range b.Partitions {
		pc, err := c.ConsumePartition(b.OrdersTopic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range pc.Messages() {
				ev, err := kafka.DecodeEvent(m.Value)
				if err != nil {
					continue
				}
				if seen != nil {
					seen <- [2]int64{ev.OrderID, int64(m.Partition)}
				}
				_ = rep.Reply(context.Background(), m, order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{OK: true},
					Order: order.Order{ID: ev.OrderID, EventID: ev.EventID, Status: order.StatusDone}})
			}
		}()
	}
}

func TestDispatchPartitionIsOrderIDModulo(t *testing.T) {
	b := kafkatest.New(t)
	seen := make(chan [2]int64, 64)
	echoWorker(t, b, seen)
	r := newRequester(t, b, "api-1")
	for id := int64(1); id <= 20; id++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ack, err := r.Dispatch(ctx, order.Event{OrderID: id, EventID: 0, Type: order.EventCreate})
		cancel()
		if err != nil {
			t.Fatalf("dispatch order %d: %v", id, err)
		}
		if ack.OrderID != id || ack.Order.Status != order.StatusDone {
			t.Fatalf("order %d: got ack %+v", id, ack)
		}
		got := <-seen
		if got[0] != id || got[1] != id%int64(b.Partitions) {
			t.Errorf("order %d went to partition %d; want %d", id, got[1], id%int64(b.Partitions))
		}
	}
}

func TestDispatchTimesOutWithoutWorker(t *testing.T) {
	b := kafkatest.New(t)
	r := newRequester(t, b, "api-1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := r.Dispatch(ctx, order.Event{OrderID: 1, Type: order.EventCreate})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want context.DeadlineExceeded", err)
	}
}

func TestDispatchUnavailableBroker(t *testing.T) {
	b := kafkatest.New(t)
	cfg := kafka.NewConfig("test")
	cfg.Producer.Retry.Max = 1
	cfg.Producer.Retry.Backoff = 10 * time.Millisecond
	cfg.Metadata.Retry.Max = 0
	r, err := kafka.NewRequester(kafka.RequesterConfig{
		Brokers: b.Brokers, Topic: "no-such-topic", AckTopic: b.AcksTopic, InstanceID: "api-1", ReplyPartition: -1, Log: quiet(), Config: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = r.Dispatch(ctx, order.Event{OrderID: 1, Type: order.EventCreate})
	if order.ErrorCode(err) != order.EUNAVAILABLE {
		t.Fatalf("got %v; want UNAVAILABLE", err)
	}
}
