package backoff

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	b := New(100*time.Millisecond, 500*time.Millisecond)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{100, 200, 400, 500, 500}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v; want %v ms", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 100*time.Millisecond {
		t.Errorf("after Reset: %s; want 100ms", d)
	}
}

func TestJitter(t *testing.T) {
	b := New(time.Second, time.Second)
	b.Jitter = 0.5
	for range 100 {
		if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("delay %s outside [500ms, 1s]", d)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := New(time.Hour, time.Hour).Sleep(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v; want context.Canceled", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Sleep did not return when ctx ended")
	}
}

func TestRetry(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := Retry(context.Background(), log, "connect", func() error {
		if calls++; calls < 3 {
			return errors.New("refused")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("got %v after %d calls; want nil after 3", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cause := errors.New("refused")
	err = Retry(ctx, log, "connect", func() error { return cause })
	if !errors.Is(err, cause) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want both the cause and the deadline", err)
	}
}
