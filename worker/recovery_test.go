package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

// waitStatus polls the order until it has status want.
func (st *stack) waitStatus(t *testing.T, ext, user string, want order.Status) order.Order {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := st.store.OrderByExternalID(context.Background(), ext, user)
		if err == nil && o.Status == want {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: got %s, %v; want %s within 20 s", ext, o.Status, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecoveryPublishesLostEvents stores orders whose publish never
// happened (as after a crash between commit and produce) and checks that
// two recovery loops running at once publish each order once, and the
// worker completes them all.
func TestRecoveryPublishesLostEvents(t *testing.T) {
	st := newStack(t)
	st.store.RecoveryDelay = 0
	ctx := context.Background()
	user := uuid.NewString()
	const n = 40
	for i := range n {
		in := order.CreateInput{ExternalID: fmt.Sprintf("lost-%d", i), UserID: user, Items: items("1.00")}
		if _, _, _, err := st.store.CreateOrder(ctx, in, 100); err != nil {
			t.Fatal(err)
		}
	}
	counter := &countingPublisher{next: st.requester(t, "recovery", -1)}
	var wg sync.WaitGroup
	published := make([]int, 2)
	for i := range published {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &order.Recovery{Outbox: st.store, Publisher: counter, Log: testLogger(), Retry: time.Minute, Batch: 7}
			var err error
			if published[i], err = r.RunOnce(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := published[0] + published[1]; got != n {
		t.Errorf("two recovery loops published %d + %d events; want %d in all", published[0], published[1], n)
	}
	for id, c := range counter.counts() {
		if c != 1 {
			t.Errorf("order %d published %d times; want 1", id, c)
		}
	}
	for i := range n {
		st.waitStatus(t, fmt.Sprintf("lost-%d", i), user, order.StatusDone)
	}
	// Nothing is due any more: applied events are never republished.
	r := &order.Recovery{Outbox: st.store, Publisher: counter, Log: testLogger()}
	if again, err := r.RunOnce(ctx); err != nil || again != 0 {
		t.Errorf("after the worker applied everything: republished %d, %v; want 0", again, err)
	}
}

type countingPublisher struct {
	next order.Publisher
	mu   sync.Mutex
	seen map[int64]int
}

func (c *countingPublisher) Publish(ctx context.Context, ev order.Event) error {
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[int64]int{}
	}
	c.seen[ev.OrderID]++
	c.mu.Unlock()
	return c.next.Publish(ctx, ev)
}

func (c *countingPublisher) counts() map[int64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
}

// TestPoisonMessageIsDeadLettered puts messages on the orders topic that
// cannot be processed or answered: undecodable values, and a valid event
// whose reply headers are forged (a partition the ACK topic does not have,
// a negative one, another topic). They go to the dead-letter topic with the
// reason, before any work on the database; the order they name is not
// marked FAILED (its stored events are intact: the recovery loop sends
// them), and the partition keeps moving.
func TestPoisonMessageIsDeadLettered(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	ctx := context.Background()
	user := uuid.NewString()
	victim, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "victim", UserID: user, Items: items("1.00")})
	if err != nil {
		t.Fatal(err)
	}
	// Accepted but not yet applied: an update whose messages turn out to be garbage.
	_, upd, err := st.store.AppendEvent(ctx, "victim", user, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventUpdate, Items: items("2.00")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	prod, err := sarama.NewSyncProducer(st.broker.Brokers, kafka.NewConfig("test-poison"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	event := fmt.Sprintf(`{"order_id": %d, "event_id": 1}`, victim.ID)
	reply := func(topic, partition string) []sarama.RecordHeader {
		return []sarama.RecordHeader{{Key: []byte(kafka.HeaderCorrelationID), Value: []byte("forged:1")},
			{Key: []byte(kafka.HeaderReplyTopic), Value: []byte(topic)}, {Key: []byte(kafka.HeaderReplyPartition), Value: []byte(partition)}}
	}
	poison := []struct {
		value   string
		headers []sarama.RecordHeader
		reason  string
	}{
		{"not json", nil, "undecodable"},
		{`{"order_id": "` + fmt.Sprint(victim.ID) + `"}`, nil, "undecodable"},
		{event, reply(st.broker.AcksTopic, "99"), "reply headers"},
		{event, reply(st.broker.AcksTopic, "-3"), "reply headers"},
		{event, reply("no-such-topic", "0"), "reply headers"},
	}
	for _, p := range poison {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: st.broker.OrdersTopic, Key: kafka.Key(victim.ID),
			Value: sarama.StringEncoder(p.value), Headers: p.headers}); err != nil {
			t.Fatal(err)
		}
	}
	// The same partition keeps flowing: an order behind the poison completes.
	next, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "after-poison", UserID: user, Items: items("3.00")})
	if err != nil || next.Status != order.StatusDone {
		t.Fatalf("order after the poison: got %s, %v; want DONE", next.Status, err)
	}
	for i, m := range st.deadLetters(t, len(poison)) {
		reason := kafka.Header(m, kafka.HeaderDLQReason)
		if string(m.Value) != poison[i].value || !strings.Contains(reason, poison[i].reason) || kafka.Header(m, kafka.HeaderDLQTopic) != st.broker.OrdersTopic {
			t.Errorf("dead letter %d: got %q reason %q; want %q with a reason about %q and its source", i, m.Value, reason, poison[i].value, poison[i].reason)
		}
	}
	cur, err := st.store.OrderByExternalID(ctx, "victim", user)
	if err != nil || cur.Status == order.StatusFailed || cur.AppliedEventID != 0 {
		t.Fatalf("victim after the poison: got %s applied %d, %v; want its update still pending, not FAILED", cur.Status, cur.AppliedEventID, err)
	}
	// Its real message (the recovery loop's republish) still completes it.
	if err := st.requester(t, "recovery", -1).Publish(ctx, *upd); err != nil {
		t.Fatal(err)
	}
	if done := st.waitStatus(t, "victim", user, order.StatusDone); done.Total.String() != "2.00" {
		t.Errorf("victim: got total %s; want 2.00 (its update applied)", done.Total)
	}
}

// deadLetters reads the first n messages of the dead-letter topic.
func (st *stack) deadLetters(t *testing.T, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(st.broker.Brokers, kafka.NewConfig("test-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(st.broker.DLQTopic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-time.After(20 * time.Second):
			t.Fatalf("got %d dead letters; want %d", len(out), n)
		}
	}
	return out
}

// TestOversizedAckDoesNotStopThePartition: an order whose ACK does not fit
// in a Kafka message (1000 items named with 500 '<' each, which JSON writes
// as 6 bytes: 3 MB; the API refuses such an order at validation, but one
// stored before that rule, or a lower broker limit, must not wedge anyone)
// is applied and answered without the order, which the API reads from the
// database; the orders behind it on the same partition complete.
func TestOversizedAckDoesNotStopThePartition(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	ctx := context.Background()
	user := uuid.NewString()
	big := make([]order.Item, order.MaxItems)
	for i := range big {
		big[i] = order.Item{Name: strings.Repeat("<", order.MaxNameLen), Quantity: 1, Price: 1}
	}
	if err := order.CheckSize(big, config.DefaultKafkaMaxMessageBytes); order.ErrorCode(err) != order.EINVALID {
		t.Fatalf("CheckSize of the big order: got %v; want BAD_USER_INPUT", err)
	}
	total, _ := order.Total(big)
	o, _, _, err := st.store.CreateOrder(ctx, order.CreateInput{ExternalID: "big", UserID: user, Items: big}, total)
	if err != nil {
		t.Fatal(err)
	}
	// Stored behind the validation's back: the service sends its create again.
	got, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "big", UserID: user, Items: big})
	if order.ErrorCode(err) != order.EINVALID {
		t.Fatalf("create of the big order through the service: got %v; want BAD_USER_INPUT", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ack, err := st.requester(t, "direct", -1).Dispatch(dctx, order.Event{OrderID: o.ID, EventID: 0, UserID: user, Type: order.EventCreate})
	if err != nil || !ack.Outcome.OK || !ack.OrderOmitted {
		t.Fatalf("big order: got %+v, %v; want an OK ACK without the order", ack.Outcome, err)
	}
	got, err = st.store.OrderByExternalID(ctx, "big", user)
	if err != nil || got.Status != order.StatusDone || len(got.Items) != order.MaxItems {
		t.Fatalf("big order: got %s with %d items, %v; want DONE with all its items", got.Status, len(got.Items), err)
	}
	// Its neighbours on the same partition (id mod 8) complete.
	for i := range 10 {
		n, _, err := svc.Create(ctx, order.CreateInput{ExternalID: fmt.Sprintf("neighbour-%d", i), UserID: uuid.NewString(), Items: items("1.00")})
		if err != nil || n.Status != order.StatusDone {
			t.Fatalf("neighbour %d: got %s, %v; want DONE", i, n.Status, err)
		}
	}
}
