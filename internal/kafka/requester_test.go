package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/orderstream/internal/devstack"
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
	rep, err := kafka.NewReplier(b.Brokers, nil, b.AcksTopic)
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
				ev, _, err := kafka.DecodeEvent(m.Value)
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

// replay reads every event of the orders topic from the start, as a worker
// whose offsets were reset does, and answers each through rep with the ACK
// the worker would send: its own order and event. It returns once n events
// were answered.
func replay(t *testing.T, b *kafkatest.Broker, rep *kafka.Replier, n int) {
	t.Helper()
	c, err := sarama.NewConsumer(b.Brokers, kafka.NewConfig("test-replay"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := 0
	deadline := time.After(20 * time.Second)
	msgs := make(chan *sarama.ConsumerMessage)
	for p := range b.Partitions {
		pc, err := c.ConsumePartition(b.OrdersTopic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				msgs <- m
			}
		}()
	}
	for answered < n {
		select {
		case m := <-msgs:
			ev, _, err := kafka.DecodeEvent(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Reply(context.Background(), m, order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{OK: true},
				Order: order.Order{ID: ev.OrderID, EventID: ev.EventID, UserID: userOf(ev.OrderID), Status: order.StatusDone}}); err != nil {
				t.Fatal(err)
			}
			answered++
		case <-deadline:
			t.Fatalf("replayed %d of %d events", answered, n)
		}
	}
}

func userOf(orderID int64) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", orderID) }

// TestRestartedInstanceIgnoresOldAcks is the regression test of a stale ACK
// answering the wrong request: an API restarted with the same INSTANCE_ID
// counts its correlation ids from 1 again, so when the events of the
// process before it are delivered again (an offset reset, a rebalance),
// their ACKs carried the same correlation ids as its new requests. Each
// request must get the ACK of its own order, never another user's.
func TestRestartedInstanceIgnoresOldAcks(t *testing.T) {
	b := kafkatest.New(t)
	// The first process sends orders 1-4 and dies before any ACK.
	old := newRequester(t, b, "api-1")
	for id := int64(1); id <= 4; id++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := old.Dispatch(ctx, order.Event{OrderID: id, UserID: userOf(id), Type: order.EventCreate})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("old process, order %d: got %v; want a timeout (no worker yet)", id, err)
		}
	}
	old.Close()

	// The restarted process (same instance id, so the same reply partition)
	// sends orders 11-14 while a worker replays the whole topic.
	rep, err := kafka.NewReplier(b.Brokers, nil, b.AcksTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	restarted := newRequester(t, b, "api-1")
	type result struct {
		sent int64
		ack  order.Ack
		err  error
	}
	results := make(chan result, 4)
	for id := int64(11); id <= 14; id++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ack, err := restarted.Dispatch(ctx, order.Event{OrderID: id, UserID: userOf(id), Type: order.EventCreate})
			results <- result{id, ack, err}
		}()
	}
	replay(t, b, rep, 8)
	for range 4 {
		r := <-results
		if r.err != nil {
			t.Fatalf("order %d: %v", r.sent, r.err)
		}
		if r.ack.OrderID != r.sent || r.ack.Order.ID != r.sent || r.ack.Order.UserID != userOf(r.sent) {
			t.Errorf("request for order %d was answered with order %d of user %s", r.sent, r.ack.Order.ID, r.ack.Order.UserID)
		}
	}
}

// TestAckOfAnotherOrderIsDropped: an ACK that carries the correlation id
// of a waiting request but names another order (or another user's order)
// is dropped; the request takes its own ACK.
func TestAckOfAnotherOrderIsDropped(t *testing.T) {
	b := kafkatest.New(t)
	rep, err := kafka.NewReplier(b.Brokers, nil, b.AcksTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	r := newRequester(t, b, "api-1")
	done := make(chan order.Ack, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ack, err := r.Dispatch(ctx, order.Event{OrderID: 5, EventID: 2, UserID: userOf(5), Type: order.EventUpdate})
		if err != nil {
			t.Error(err)
		}
		done <- ack
	}()
	c, err := sarama.NewConsumer(b.Brokers, kafka.NewConfig("test-forge"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(b.OrdersTopic, 5%b.Partitions, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := <-pc.Messages()
	forged := []order.Ack{
		{OrderID: 6, EventID: 2, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 6, UserID: userOf(6)}},            // another order
		{OrderID: 5, EventID: 1, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 5, UserID: userOf(5)}},            // another event
		{OrderID: 5, EventID: 2, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 6, UserID: userOf(6)}},            // carries another order
		{OrderID: 5, EventID: 2, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 5, UserID: userOf(7), Total: 99}}, // another user's
	}
	for _, f := range forged {
		if err := rep.Reply(context.Background(), m, f); err != nil {
			t.Fatal(err)
		}
	}
	real := order.Ack{OrderID: 5, EventID: 2, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 5, EventID: 2, UserID: userOf(5), Status: order.StatusDone}}
	if err := rep.Reply(context.Background(), m, real); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got.OrderID != 5 || got.EventID != 2 || got.Order.ID != 5 || got.Order.UserID != userOf(5) || got.Order.Total != 0 {
			t.Errorf("got ack %+v; want the real one, for order 5 event 2 of its user", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer")
	}
}

// TestRouteRefusesForgedHeaders: an event whose reply headers point at
// another topic, a partition the ACK topic does not have, or carry no
// correlation id is refused before any work; one without a reply topic has
// no route (nobody waits).
func TestRouteRefusesForgedHeaders(t *testing.T) {
	b := kafkatest.New(t)
	rep, err := kafka.NewReplier(b.Brokers, nil, b.AcksTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	msg := func(kv ...string) *sarama.ConsumerMessage {
		m := &sarama.ConsumerMessage{}
		for i := 0; i < len(kv); i += 2 {
			m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return m
	}
	const topic, part, corr = kafka.HeaderReplyTopic, kafka.HeaderReplyPartition, kafka.HeaderCorrelationID
	for _, tc := range []struct {
		name string
		m    *sarama.ConsumerMessage
		ok   bool
		bad  bool
	}{
		{"Valid", msg(topic, b.AcksTopic, part, "3", corr, "api-1:ab:1"), true, false},
		{"NoReplyTopic", msg(corr, "api-1:ab:1"), false, false},
		{"NegativePartition", msg(topic, b.AcksTopic, part, "-3", corr, "c"), false, true},
		{"PartitionOutOfRange", msg(topic, b.AcksTopic, part, "99", corr, "c"), false, true},
		{"PartitionNotANumber", msg(topic, b.AcksTopic, part, "x", corr, "c"), false, true},
		{"PartitionMissing", msg(topic, b.AcksTopic, corr, "c"), false, true},
		{"OtherTopic", msg(topic, b.OrdersTopic, part, "0", corr, "c"), false, true},
		{"UnknownTopic", msg(topic, "no-such-topic", part, "0", corr, "c"), false, true},
		{"NoCorrelationID", msg(topic, b.AcksTopic, part, "0"), false, true},
		{"HugeCorrelationID", msg(topic, b.AcksTopic, part, "0", corr, strings.Repeat("x", 300)), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := rep.Route(tc.m)
			if ok != tc.ok || (err != nil) != tc.bad {
				t.Errorf("got ok=%v err=%v; want ok=%v, error=%v", ok, err, tc.ok, tc.bad)
			}
		})
	}
}

// TestOversizedAckGoesWithoutTheOrder: an ACK over the producer's message
// limit is sent again without the order, and the request learns it must
// read the order itself.
func TestOversizedAckGoesWithoutTheOrder(t *testing.T) {
	b := kafkatest.New(t)
	cfg := kafka.NewConfig("test-small")
	cfg.Producer.MaxMessageBytes = 2000
	rep, err := kafka.NewReplier(b.Brokers, cfg, b.AcksTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	r := newRequester(t, b, "api-1")
	done := make(chan order.Ack, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ack, err := r.Dispatch(ctx, order.Event{OrderID: 3, UserID: userOf(3), Type: order.EventCreate})
		if err != nil {
			t.Error(err)
		}
		done <- ack
	}()
	c, err := sarama.NewConsumer(b.Brokers, kafka.NewConfig("test-big"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(b.OrdersTopic, 3%b.Partitions, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := <-pc.Messages()
	big := order.Order{ID: 3, UserID: userOf(3), Status: order.StatusDone, Items: []order.Item{{Name: strings.Repeat("<", 500), Quantity: 1}}}
	if err := rep.Reply(context.Background(), m, order.Ack{OrderID: 3, Outcome: order.Outcome{OK: true}, Order: big}); err != nil {
		t.Fatalf("Reply: %v; want the ACK sent without the order", err)
	}
	select {
	case got := <-done:
		if !got.OrderOmitted || !got.Outcome.OK || got.OrderID != 3 {
			t.Errorf("got %+v; want an OK ACK of order 3 without the order", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer")
	}
}

// TestDispatchFailsFastWhenKafkaCannotStore: when the cluster does not store
// a produce (below min.insync.replicas a real broker holds it until its
// request timeout, on every retry), Dispatch answers UNAVAILABLE after
// ProduceTimeout instead of keeping the request for minutes.
func TestDispatchFailsFastWhenKafkaCannotStore(t *testing.T) {
	k, err := devstack.StartKafka(devstack.KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	release := make(chan struct{})
	k.Cluster().ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster().KeepControl()
		k.Cluster().SleepControl(func() { <-release })
		return nil, nil, false
	})
	r, err := kafka.NewRequester(kafka.RequesterConfig{Brokers: k.Brokers(), Topic: devstack.DefaultOrdersTopic,
		AckTopic: devstack.DefaultAcksTopic, InstanceID: "api-1", ReplyPartition: -1, Log: quiet(), ProduceTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(release); r.Close() }() // let the held produces go before the producer flushes
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = r.Dispatch(ctx, order.Event{OrderID: 1, Type: order.EventCreate})
	if order.ErrorCode(err) != order.EUNAVAILABLE || ctx.Err() != nil {
		t.Fatalf("got %v (ctx %v); want UNAVAILABLE after the produce timeout, long before the ACK deadline", err, ctx.Err())
	}
	if err := r.Publish(ctx, order.Event{OrderID: 2, Type: order.EventCreate}); order.ErrorCode(err) != order.EUNAVAILABLE || ctx.Err() != nil {
		t.Fatalf("Publish: got %v; want UNAVAILABLE after the produce timeout", err)
	}
}
