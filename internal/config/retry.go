package config

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retry calls fn until it succeeds or ctx ends, waiting 100 ms, then twice as
// long each time up to 5 s. Mains use it to wait for PostgreSQL and Kafka at
// start-up, so that the services can start in any order.
func Retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		log.Warn(what+" failed, retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
