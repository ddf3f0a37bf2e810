package main

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// opFunc performs one operation and returns "" on success or an error code
// ("ACK_TIMEOUT", "HTTP_503", "TRANSPORT", ...). worker is the index of the
// calling client, 0 to level-1; rng is that client's own generator.
type opFunc func(ctx context.Context, worker int, rng *rand.Rand) (code string)

// loadSpec is one closed-loop load run: level clients, each sending its next
// request as soon as the previous one is answered.
type loadSpec struct {
	level    int
	warmup   time.Duration // not measured
	duration time.Duration // the measurement window
	// maxOps bounds the operations started in the whole run (warm-up
	// included), whatever the duration.
	maxOps int64
	// grace bounds how long requests still in flight at the end of the
	// window may take; then their context ends.
	grace time.Duration
	// onWindow, when set, is called as the window starts (true) and ends
	// (false): where CPU counters are sampled.
	onWindow func(start bool)
	op       opFunc
}

// loadResult is what a load run measured within its window: operations
// that completed inside it, whenever they started (the warm-up makes those
// steady-state operations).
type loadResult struct {
	window      time.Duration
	ok          int
	lat         []time.Duration // successful operations, sorted
	errors      map[string]int
	capped      bool // maxOps reached before the window ended
	interrupted bool // ctx ended first
}

type clientStats struct {
	lat    []time.Duration
	errors map[string]int
}

// errorBackoff slows a client down after a failure, so that an API that
// fails fast (connection refused) is not hammered in a hot loop.
const errorBackoff = 5 * time.Millisecond

func runLoad(ctx context.Context, s loadSpec) loadResult {
	start := time.Now()
	winStart := start.Add(s.warmup)
	winEnd := winStart.Add(s.duration)
	opCtx, cancel := context.WithDeadline(ctx, winEnd.Add(s.grace))
	defer cancel()

	hookDone := make(chan struct{})
	go func() {
		defer close(hookDone)
		if s.onWindow == nil {
			return
		}
		if !sleepUntil(ctx, winStart) {
			return
		}
		s.onWindow(true)
		sleepUntil(ctx, winEnd)
		s.onWindow(false)
	}()

	var (
		issued  atomic.Int64
		capped  atomic.Bool
		lastEnd atomic.Int64 // unix nanos of the last measured completion
		wg      sync.WaitGroup
	)
	stats := make([]clientStats, s.level)
	seed := uint64(start.UnixNano())
	for i := range s.level {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			st := &stats[i]
			st.errors = map[string]int{}
			for ctx.Err() == nil && time.Now().Before(winEnd) {
				if issued.Add(1) > s.maxOps {
					capped.Store(true)
					return
				}
				t0 := time.Now()
				code := s.op(opCtx, i, rng)
				t1 := time.Now()
				if ctx.Err() != nil {
					return // interrupted: cut short, not a failure of the system under test
				}
				if !t1.Before(winStart) && !t1.After(winEnd) {
					if code == "" {
						st.lat = append(st.lat, t1.Sub(t0))
					} else {
						st.errors[code]++
					}
					lastEnd.Store(t1.UnixNano())
				}
				if code != "" {
					sleepUntil(ctx, time.Now().Add(errorBackoff))
				}
			}
		}()
	}
	wg.Wait()
	<-hookDone

	r := loadResult{window: s.duration, errors: map[string]int{}, capped: capped.Load(), interrupted: ctx.Err() != nil}
	for _, st := range stats {
		r.lat = append(r.lat, st.lat...)
		for c, n := range st.errors {
			r.errors[c] += n
		}
	}
	r.ok = len(r.lat)
	slices.Sort(r.lat)
	if r.capped || r.interrupted {
		// The window was cut short: rates over the part that ran.
		if end := time.Unix(0, lastEnd.Load()); end.After(winStart) {
			r.window = min(s.duration, end.Sub(winStart))
		}
	}
	return r
}

// sleepUntil waits until t or until ctx ends; it reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p % of the values
// at or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}

// opsPerSec is the throughput of r's window.
func (r loadResult) opsPerSec() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ok) / r.window.Seconds()
}

func (r loadResult) errorCount() int {
	n := 0
	for _, c := range r.errors {
		n += c
	}
	return n
}
