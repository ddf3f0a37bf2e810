// Package stall tells when a running batch has taken too long. The API's
// gather of creates and lookups (internal/postgres) and the worker's
// combiner run one batch at a time, and let another run beside each batch
// that has stalled, so that one slow batch cannot hold every request behind
// it (docs/SCALING.md, "Creates in one statement").
package stall

import (
	"sync"
	"time"
)

// MaxExtra is how many stalled batches let another batch run beside them:
// beyond it, batches wait (each running one holds a database connection).
const MaxExtra = 3

// Watch is the stall timer of one running batch.
type Watch struct {
	mu             sync.Mutex
	timer          *time.Timer
	ended, stalled bool
}

// Start calls onStall once the batch has run for after, unless End came
// first; it returns nil (no timer) when after ≤ 0. onStall runs with the
// watch's lock held, so End waits for it: when End returns false onStall
// never runs, and when it returns true onStall has returned. onStall may
// therefore take its owner's lock, and End must not be called with it held.
func Start(after time.Duration, onStall func()) *Watch {
	if after <= 0 {
		return nil
	}
	w := &Watch{}
	w.timer = time.AfterFunc(after, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.ended {
			w.stalled = true
			onStall()
		}
	})
	return w
}

// End stops the watch as its batch ends and reports whether the batch
// stalled (onStall ran). End of a nil watch is false.
func (w *Watch) End() (stalled bool) {
	if w == nil {
		return false
	}
	w.timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	return w.stalled
}
