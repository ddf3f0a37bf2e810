package postgres

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderstream/orderstream/internal/stall"
)

// gather is the queue behind the API's two combiners: creates gathered
// into one statement (combine.go) and lookups gathered into one statement
// (lookups.go). A request is R, its answer A. It never waits for company.
// A request that finds fewer than maxRunning batches in flight runs at
// once, on its own goroutine, as a batch of one; the others queue, and
// when a batch ends, the queue behind it (up to max requests) becomes the
// next batch, run by the goroutine of its first request. So a batch forms
// only while the database is busy with another one, no request waits
// longer than the batch ahead of it, and no goroutine hands work to
// another at low load.
//
// Fewer batches in flight make bigger batches (less work per request for
// the database), but let one slow batch hold every request queued behind
// it. So a batch that has run for stallAfter counts as stalled: each
// stalled batch lets one more batch run beside the others (up to
// maxRunning + stall.MaxExtra), which takes the queue at once, and later
// requests run as if the stalled batch were not there. Once the stalled
// batch ends, the extra batches end too as they finish rather than take
// the queue.
type gather[R, A any] struct {
	max        int // requests per batch
	maxRunning int // batches in flight while none is stalled
	stallAfter time.Duration
	// run runs batch and answers each of its jobs (job.answer).
	run func(batch []*job[R, A])

	mu      sync.Mutex
	pending []*job[R, A]
	running int
	stalled int // running batches older than stallAfter

	// batches and batched count the batches of more than one request that
	// run reported done (counted), and their requests; stalls the batches
	// that ran for stallAfter.
	batches, batched, stalls atomic.Int64
}

// newGather returns a gather of up to max requests per batch and inFlight
// batches at a time, each batch stalled after stallAfter (0: never), or
// nil (no batching: each request alone) when max ≤ 1 or inFlight < 1.
func newGather[R, A any](max, inFlight int, stallAfter time.Duration, run func(batch []*job[R, A])) *gather[R, A] {
	if max <= 1 || inFlight < 1 {
		return nil
	}
	return &gather[R, A]{max: max, maxRunning: inFlight, stallAfter: stallAfter, run: run}
}

// limit is how many batches may run now. Called with g.mu held.
func (g *gather[R, A]) limit() int { return g.maxRunning + min(g.stalled, stall.MaxExtra) }

// job is one request in the queue.
type job[R, A any] struct {
	req R
	// done receives the answer, or a batch to run that begins with this
	// job. Buffered: a job gets one message at a time.
	done chan jobMsg[R, A]
}

type jobMsg[R, A any] struct {
	answer A
	lead   []*job[R, A]
}

// answer gives j its answer.
func (j *job[R, A]) answer(a A) { j.done <- jobMsg[R, A]{answer: a} }

// do queues req and returns its answer. When a slot is free, the batch
// that begins with req runs on the calling goroutine; a batch handed to
// it while it waits runs there too.
func (g *gather[R, A]) do(req R) A {
	j := &job[R, A]{req: req, done: make(chan jobMsg[R, A], 1)}
	g.mu.Lock()
	g.pending = append(g.pending, j)
	if g.running < g.limit() {
		// Nothing else is queued then: a batch that ends with requests
		// waiting hands its slot on to them instead of freeing it.
		g.running++
		batch := g.take()
		g.mu.Unlock()
		g.lead(batch)
	} else {
		g.mu.Unlock()
	}
	for {
		m := <-j.done
		if m.lead == nil {
			return m.answer
		}
		g.lead(m.lead)
	}
}

// take removes the next batch from the queue: the first job and those
// behind it, up to max. Called with g.mu held.
func (g *gather[R, A]) take() []*job[R, A] {
	n := min(len(g.pending), g.max)
	batch := append(make([]*job[R, A], 0, n), g.pending[:n]...)
	rest := copy(g.pending, g.pending[n:])
	clear(g.pending[rest:])
	g.pending = g.pending[:rest]
	return batch
}

// lead runs batch on the calling goroutine, then hands the slot to the
// next batch, run by the goroutine of its first job, or frees it: when
// nothing is queued, or more batches run than the limit allows now (a
// stalled batch has ended).
func (g *gather[R, A]) lead(batch []*job[R, A]) {
	w := stall.Start(g.stallAfter, g.stall)
	g.run(batch)
	stalled := w.End()
	g.mu.Lock()
	if stalled {
		g.stalled--
	}
	if len(g.pending) == 0 || g.running > g.limit() {
		g.running--
		g.mu.Unlock()
		return
	}
	next := g.take()
	g.mu.Unlock()
	next[0].done <- jobMsg[R, A]{lead: next}
}

// stall counts a running batch stalled (its stall.Watch calls it), and
// starts the queue as another batch when the limit now allows one.
func (g *gather[R, A]) stall() {
	g.mu.Lock()
	g.stalled++
	g.stalls.Add(1)
	if len(g.pending) == 0 || g.running >= g.limit() {
		g.mu.Unlock()
		return
	}
	g.running++
	next := g.take()
	g.mu.Unlock()
	next[0].done <- jobMsg[R, A]{lead: next}
}

// counted records a batch of n requests that run stored or answered.
func (g *gather[R, A]) counted(n int) {
	g.batches.Add(1)
	g.batched.Add(int64(n))
}

// stats returns how many batches of more than one request were counted,
// and how many requests they held; zeros for no gather (batching off).
func (g *gather[R, A]) stats() (batches, requests int64) {
	if g == nil {
		return 0, 0
	}
	return g.batches.Load(), g.batched.Load()
}

// stallCount is how many batches ran for stallAfter; 0 for no gather.
func (g *gather[R, A]) stallCount() int64 {
	if g == nil {
		return 0
	}
	return g.stalls.Load()
}

// queued is how many jobs wait for a batch (tests).
func (g *gather[R, A]) queued() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}
