package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

func TestCollect(t *testing.T) {
	msgs := func(n int) chan *sarama.ConsumerMessage {
		ch := make(chan *sarama.ConsumerMessage, n)
		for i := range n {
			ch <- &sarama.ConsumerMessage{Offset: int64(i + 1)}
		}
		return ch
	}
	first := &sarama.ConsumerMessage{Offset: 0}
	for _, tc := range []struct {
		name            string
		waiting, size   int
		closed          bool
		want, remaining int
	}{
		{"Alone", 0, 256, false, 1, 0},
		{"TakesWhatWaits", 10, 256, false, 11, 0},
		{"BoundedBySize", 10, 4, false, 4, 7},
		{"ClosedChannel", 3, 256, true, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := msgs(tc.waiting)
			if tc.closed {
				close(ch)
			}
			h := &handler{batchSize: tc.size}
			batch := h.collect(first, ch)
			if len(batch) != tc.want || len(ch) != tc.remaining {
				t.Fatalf("got batch of %d with %d left; want %d with %d left", len(batch), len(ch), tc.want, tc.remaining)
			}
			for i, m := range batch {
				if m.Offset != int64(i) {
					t.Errorf("batch[%d] has offset %d; want %d (in order)", i, m.Offset, i)
				}
			}
		})
	}
}

// splitStore fails every batch that holds order bad, as a database error
// that is not an outage would, and applies the others.
type splitStore struct {
	bad     int64
	mu      sync.Mutex
	batches [][]int64
	failed  []int64
}

func (s *splitStore) Process(_ context.Context, keys []order.EventKey, _ [][]byte) ([]order.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for _, k := range keys {
		ids = append(ids, k.OrderID)
	}
	s.batches = append(s.batches, ids)
	if slices.Contains(ids, s.bad) {
		return nil, errors.New("check constraint violated")
	}
	answers := make([]order.Answer, len(keys))
	for i, k := range keys {
		answers[i].Ack = order.Ack{OrderID: k.OrderID, EventID: k.EventID, Outcome: order.Outcome{OK: true}}
	}
	return answers, nil
}

func (s *splitStore) MarkFailed(_ context.Context, id int64, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, id)
	return nil
}

type recordingReplier struct {
	mu           sync.Mutex
	acked, nacks []int64
	deadLettered []int64
}

func (r *recordingReplier) Route(*sarama.ConsumerMessage) (kafka.Route, bool, error) {
	return kafka.Route{}, false, nil
}

func (r *recordingReplier) ReplyMany(_ context.Context, reqs []*sarama.ConsumerMessage, acks []order.Ack) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range acks {
		r.acked = append(r.acked, a.OrderID)
	}
	return make([]error, len(reqs))
}

func (r *recordingReplier) Reply(_ context.Context, _ *sarama.ConsumerMessage, ack order.Ack) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nacks = append(r.nacks, ack.OrderID)
	return nil
}

func (r *recordingReplier) DeadLetter(_ string, m *sarama.ConsumerMessage, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadLettered = append(r.deadLettered, m.Offset)
	return nil
}

// TestSplitFailingBatch: a batch that keeps failing is processed message by
// message, alone; the message at fault is dead-lettered, its order marked
// FAILED and its request answered, and the others are applied and ACKed.
func TestSplitFailingBatch(t *testing.T) {
	store, rep := &splitStore{bad: 2}, &recordingReplier{}
	h := &handler{store: store, replier: rep, log: slog.New(slog.NewTextHandler(io.Discard, nil)), maxAttempts: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The combiner is on, as in production: the split must not go back to it.
	h.combiner = newCombiner(ctx, func(items []item) error { return h.process(ctx, items) }, 256, 1, 0)
	var batch []*sarama.ConsumerMessage
	for id := int64(1); id <= 3; id++ {
		v, err := kafka.EncodeEvent(order.Event{OrderID: id, EventID: 0, Type: order.EventCreate})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, &sarama.ConsumerMessage{Offset: id * 10, Value: v})
	}
	if err := h.handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.deadLettered, []int64{20}) || !slices.Equal(store.failed, []int64{2}) || !slices.Equal(rep.nacks, []int64{2}) {
		t.Errorf("dead-lettered offsets %v, failed orders %v, answered %v; want [20], [2], [2]", rep.deadLettered, store.failed, rep.nacks)
	}
	if !slices.Equal(rep.acked, []int64{1, 3}) {
		t.Errorf("ACKed %v; want [1 3]", rep.acked)
	}
	// Once split, each message is processed alone.
	for _, b := range store.batches[1:] {
		if len(b) == 3 {
			continue // the retries of the whole batch before the split
		}
		if len(b) != 1 {
			t.Errorf("batch %v after the split; want one message each", b)
		}
	}
}
