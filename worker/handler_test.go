package main

import (
	"testing"

	"github.com/IBM/sarama"
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
