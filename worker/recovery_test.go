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

// TestPoisonMessageIsDeadLettered puts undecodable messages on the orders
// topic: they go to the dead-letter topic with the reason, an identifiable
// order is marked FAILED, and the partition keeps moving.
func TestPoisonMessageIsDeadLettered(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	ctx := context.Background()
	user := uuid.NewString()
	victim, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "victim", UserID: user, Items: items("1.00")})
	if err != nil {
		t.Fatal(err)
	}
	// Accepted but not yet applied: an update whose message turns out to be garbage.
	if _, _, err := st.store.AppendEvent(ctx, "victim", user, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventUpdate, Items: items("2.00")}, nil
	}); err != nil {
		t.Fatal(err)
	}

	prod, err := sarama.NewSyncProducer(st.broker.Brokers, kafka.NewConfig("test-poison"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	poison := []string{"not json", `{"order_id": ` + fmt.Sprint(victim.ID) + `, "event_id": 1, "type": "explode"}`}
	for _, v := range poison {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: st.broker.OrdersTopic, Key: kafka.Key(victim.ID), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// The same partition keeps flowing: an order behind the poison completes.
	next, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "after-poison", UserID: user, Items: items("3.00")})
	if err != nil || next.Status != order.StatusDone {
		t.Fatalf("order after the poison: got %s, %v; want DONE", next.Status, err)
	}
	failed := st.waitStatus(t, "victim", user, order.StatusFailed)
	if failed.FailureReason == "" || failed.AppliedEventID != failed.EventID {
		t.Errorf("victim: got reason %q applied %d/%d; want a reason and its events closed", failed.FailureReason, failed.AppliedEventID, failed.EventID)
	}

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
	for i := range poison {
		select {
		case m := <-pc.Messages():
			reason := kafka.Header(m, kafka.HeaderDLQReason)
			if string(m.Value) != poison[i] || !strings.Contains(reason, "undecodable") || kafka.Header(m, kafka.HeaderDLQTopic) != st.broker.OrdersTopic {
				t.Errorf("dead letter %d: got %q reason %q; want %q with its reason and source", i, m.Value, reason, poison[i])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("dead letter %d not found", i)
		}
	}
}
