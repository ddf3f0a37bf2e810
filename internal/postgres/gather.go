package postgres

import "sync"

// gather is the queue behind the API's two combiners: creates gathered
// into one statement (combine.go) and lookups gathered into one statement
// (lookups.go). It never waits for company. A request that finds fewer
// than maxRunning batches in flight runs at once, on its own goroutine, as
// a batch of one; the others queue, and when a batch ends, the queue
// behind it (up to max requests) becomes the next batch, run by the
// goroutine of its first request (handoff). So a batch forms only while
// the database is busy with another one, and no request waits longer than
// the batch ahead of it.
type gather[R any] struct {
	max        int // requests per batch
	maxRunning int // batches in flight
	// run runs batch and answers each of its requests.
	run func(batch []R)
	// handoff asks the goroutine of batch[0], which waits for its answer,
	// to run batch with lead instead.
	handoff func(batch []R)

	mu      sync.Mutex
	pending []R
	running int
}

// submit queues r, and runs the batch that begins with it on the calling
// goroutine when a slot is free. The caller then waits for r's answer, or
// for a batch handed to it (handoff), which it runs with lead.
func (g *gather[R]) submit(r R) {
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.running < g.maxRunning {
		// Nothing else is queued then: a batch that ends with requests
		// waiting hands its slot on to them instead of freeing it.
		g.running++
		batch := g.take()
		g.mu.Unlock()
		g.lead(batch)
		return
	}
	g.mu.Unlock()
}

// take removes the next batch from the queue: the first request and those
// behind it, up to max. Called with g.mu held.
func (g *gather[R]) take() []R {
	n := min(len(g.pending), g.max)
	batch := append(make([]R, 0, n), g.pending[:n]...)
	rest := copy(g.pending, g.pending[n:])
	clear(g.pending[rest:])
	g.pending = g.pending[:rest]
	return batch
}

// lead runs batch on the calling goroutine, then hands the slot to the
// next batch, or frees it.
func (g *gather[R]) lead(batch []R) {
	g.run(batch)
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.running--
		g.mu.Unlock()
		return
	}
	next := g.take()
	g.mu.Unlock()
	g.handoff(next)
}
