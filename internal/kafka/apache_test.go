package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
)

// memberHandler records the claims of one consumer group member and hands
// its messages on, marking each (NewConfig auto-commits marked offsets
// every second; Cleanup commits at once).
type memberHandler struct {
	name string
	got  chan<- string
	mu   sync.Mutex
	// claims is the assignment of the latest session.
	claims []int32
	joined chan struct{}
	once   sync.Once
}

func (h *memberHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims = slices.Clone(s.Claims()[topicOf(s)])
	slices.Sort(h.claims)
	h.once.Do(func() { close(h.joined) })
	return nil
}

func topicOf(s sarama.ConsumerGroupSession) string {
	for t := range s.Claims() {
		return t
	}
	return ""
}

func (h *memberHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	return nil
}

func (h *memberHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			s.MarkMessage(m, "")
			h.got <- string(m.Value)
		case <-s.Context().Done():
			return nil
		}
	}
}

func (h *memberHandler) assignment() []int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.claims)
}

// member is a running consumer group member; stop leaves the group.
type member struct {
	h    *memberHandler
	stop func()
}

func join(t *testing.T, brokers []string, group, topic, name string, got chan<- string) *member {
	t.Helper()
	g, err := sarama.NewConsumerGroup(brokers, group, kafka.NewConfig(name))
	if err != nil {
		t.Fatal(err)
	}
	h := &memberHandler{name: name, got: got, joined: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				t.Errorf("%s: consume: %v", name, err)
				return
			}
		}
	})
	wg.Go(func() {
		for err := range g.Errors() {
			t.Errorf("%s: %v", name, err)
		}
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := g.Close(); err != nil {
				t.Errorf("%s: close: %v", name, err)
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	select {
	case <-h.joined:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not join group %s within 1m", name, group)
	}
	return &member{h: h, stop: stop}
}

func receive(t *testing.T, got <-chan string, n int) []string {
	t.Helper()
	var out []string
	timeout := time.After(time.Minute)
	for len(out) < n {
		select {
		case v := <-got:
			out = append(out, v)
		case <-timeout:
			t.Fatalf("%d of %d messages within 1m", len(out), n)
		}
	}
	return out
}

// TestSaramaOnApacheKafka proves OrderStream's sarama configuration
// (NewConfig: protocol kafka.Version, idempotent producer with acks=all,
// sticky consumer groups, offsets committed after marking) on the Apache
// Kafka broker of deploy/kafka/pom.xml, whatever KAFKA_KIND says.
func TestSaramaOnApacheKafka(t *testing.T) {
	t.Parallel()
	b := kafkatest.NewApache(t, 1)
	cfg := kafka.NewConfig("apache-test")
	producer, err := sarama.NewSyncProducer(b.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	sendAll := func(from, to int) {
		t.Helper()
		var msgs []*sarama.ProducerMessage
		for i := from; i < to; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: b.OrdersTopic, Key: kafka.Key(int64(i)), Value: sarama.StringEncoder(fmt.Sprint(i))})
		}
		if err := producer.SendMessages(msgs); err != nil {
			t.Fatalf("idempotent produce: %v", err)
		}
		for _, m := range msgs {
			if want := int32(mustAtoi(t, m.Value)) % b.Partitions; m.Partition != want {
				t.Fatalf("message %v on partition %d, want %d", m.Value, m.Partition, want)
			}
		}
	}
	sendAll(0, 40)

	const group = "apache-test-group"
	got := make(chan string, 1000)
	start := time.Now()
	first := join(t, b.Brokers, group, b.OrdersTopic, "first", got)
	t.Logf("first member joined in %s with partitions %v", time.Since(start).Round(time.Millisecond), first.h.assignment())
	if n := len(first.h.assignment()); n != int(b.Partitions) {
		t.Fatalf("a lone member has %d partitions, want %d", n, b.Partitions)
	}
	receive(t, got, 40)

	// A second member joins: the sticky strategy splits the partitions.
	start = time.Now()
	second := join(t, b.Brokers, group, b.OrdersTopic, "second", got)
	var a1, a2 []int32
	waitUntil(t, time.Minute, "the rebalance", func() bool {
		a1, a2 = first.h.assignment(), second.h.assignment()
		return len(a1)+len(a2) == int(b.Partitions) && len(a1) > 0 && len(a2) > 0
	})
	t.Logf("rebalance with two members took %s: %v and %v", time.Since(start).Round(time.Millisecond), a1, a2)
	if all := slices.Sorted(slices.Values(append(slices.Clone(a1), a2...))); len(slices.Compact(all)) != int(b.Partitions) {
		t.Fatalf("assignments %v and %v overlap", a1, a2)
	}
	sendAll(40, 60)
	receive(t, got, 20)
	first.stop()
	second.stop()
	select {
	case v := <-got:
		t.Fatalf("unexpected message %s", v)
	default:
	}

	// A new member resumes at the committed offsets: only the new messages.
	sendAll(60, 70)
	join(t, b.Brokers, group, b.OrdersTopic, "third", got)
	vals := receive(t, got, 10)
	slices.SortFunc(vals, func(x, y string) int {
		return mustAtoi(t, sarama.StringEncoder(x)) - mustAtoi(t, sarama.StringEncoder(y))
	})
	if want := []string{"60", "61", "62", "63", "64", "65", "66", "67", "68", "69"}; !slices.Equal(vals, want) {
		t.Fatalf("after resume got %v, want %v", vals, want)
	}
}

func mustAtoi(t *testing.T, e sarama.Encoder) int {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(string(b), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
