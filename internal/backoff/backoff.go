// Package backoff is the one retry delay of OrderStream: exponential, capped,
// with optional jitter, and aware of the context. Start-up retries
// (Retry), the status listener's reconnects and the worker's batch retries
// use it.
//
//	b := backoff.New(100*time.Millisecond, 5*time.Second)
//	for {
//		if err := try(); err == nil {
//			return nil
//		}
//		if err := b.Sleep(ctx); err != nil {
//			return err // ctx ended
//		}
//	}
package backoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Start-up retries: 100 ms, then twice as long each time, up to 5 s.
const (
	DefaultInitial = 100 * time.Millisecond
	DefaultMax     = 5 * time.Second
)

// Backoff yields growing delays: Initial, then twice the previous one, never
// more than Max. It is not safe for concurrent use; give each loop its own.
type Backoff struct {
	initial, max time.Duration
	// Jitter spreads each delay at random over [d*(1-Jitter), d] (0 to 1;
	// 0, the default, keeps the delays exact), so that many clients that
	// failed together do not retry together.
	Jitter float64
	next   time.Duration
}

// New returns a Backoff from initial up to limit (a limit below initial
// means initial).
func New(initial, limit time.Duration) *Backoff {
	if initial <= 0 {
		initial = DefaultInitial
	}
	return &Backoff{initial: initial, max: max(initial, limit), next: initial}
}

// Next returns the delay to wait now and doubles the one after, up to the cap.
func (b *Backoff) Next() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	if b.Jitter > 0 {
		d -= time.Duration(rand.Float64() * min(b.Jitter, 1) * float64(d))
	}
	return d
}

// Peek returns the delay Next would return, without jitter, for log lines.
func (b *Backoff) Peek() time.Duration { return b.next }

// Reset starts over from the initial delay (after a success).
func (b *Backoff) Reset() { b.next = b.initial }

// Sleep waits Next(), or less if ctx ends first; then it returns ctx.Err().
func (b *Backoff) Sleep(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Permanent marks err as one that retrying cannot cure: Retry returns it at
// once.
func Permanent(err error) error { return &permanent{err} }

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Retry calls fn until it succeeds or ctx ends, with the start-up delays
// (DefaultInitial up to DefaultMax), logging each failure at WARN. The
// mains use it to wait for PostgreSQL and Kafka at start-up, so that the
// services can start in any order. The error names what and both causes.
func Retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	b := New(DefaultInitial, DefaultMax)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var stop *permanent
		if errors.As(err, &stop) {
			return fmt.Errorf("%s: %w", what, stop.err)
		}
		log.Warn(what+" failed, retrying", "err", err, "in", b.Peek().String())
		if cerr := b.Sleep(ctx); cerr != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, cerr)
		}
	}
}
