package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderstream/orderstream/internal/stall"
)

// errCombinerStopped means the combiner did not take the batch: the session
// or the worker ended first, and the caller processes its batch alone.
var errCombinerStopped = errors.New("combiner stopped")

// combiner merges the micro-batches of several partitions into one: one
// database transaction and one produce of ACKs for all of them. Each
// partition's goroutine (sarama's ConsumeClaim) hands in its batch and
// waits for the result before it takes its next one, so the order of events
// within a partition is kept, and the batches merged at a time never share
// an order (an order lives in one partition). With 64 requests in flight
// spread over 8 partitions, a partition alone has only a few messages
// waiting; merged, the per-batch cost (statements, commits, a produce) is
// paid once for all of them.
//
// Like the per-partition batch, a merged batch never waits for more
// messages: a loop takes the first batch handed in and whatever others are
// already waiting, up to max events. Up to lanes loops take and process
// batches at a time (WORKER_MERGE_LOOPS): one makes the biggest batches,
// and so the least work per event for the database, but lets one slow
// batch (a lock wait, a slow produce) hold every partition. So a batch
// that has been processed for stallAfter counts as stalled, and each
// stalled batch lets one more loop take the batches waiting meanwhile (up
// to stall.MaxExtra more), as the API's gather does (internal/postgres).
//
// A batch once taken by a loop is finished, whatever happens to the session
// or the worker meanwhile: its partition's goroutine waits for it, so that
// the consumer group's Close (which waits for those goroutines) returns
// only when no merged batch is still writing to the database or producing
// ACKs, as without the combiner.
type combiner struct {
	process    func(items []item) error
	max        int
	lanes      int // loops taking or processing a batch at a time, none stalled
	stallAfter time.Duration
	// reqs is unbuffered: a send succeeds only when a loop takes the batch.
	reqs    chan combineReq
	loops   sync.WaitGroup
	waiting atomic.Int32 // batches being handed in (for tests)
	stalls  atomic.Int64 // batches that were processed for stallAfter

	mu      sync.Mutex
	active  int           // loops taking or processing a batch
	stalled int           // batches processed for stallAfter, not ended
	changed chan struct{} // closed (and replaced) when a turn may have come free: a loop left, or a batch stalled
}

type combineReq struct {
	items []item
	done  chan error
}

// newCombiner starts the loops that run process on merged batches of up
// to max items, lanes at a time and one more beside each batch processed
// for stallAfter (0: never), until ctx ends.
func newCombiner(ctx context.Context, process func(items []item) error, max, lanes int, stallAfter time.Duration) *combiner {
	c := &combiner{process: process, max: max, lanes: lanes, stallAfter: stallAfter, reqs: make(chan combineReq), changed: make(chan struct{})}
	loops := lanes
	if stallAfter > 0 {
		loops += stall.MaxExtra
	}
	for range loops {
		c.loops.Add(1)
		go func() { defer c.loops.Done(); c.loop(ctx) }()
	}
	return c
}

// wait returns when every loop has ended (after the context of newCombiner
// ended and the loops finished their batches).
func (c *combiner) wait() { c.loops.Wait() }

// submit processes items as part of a merged batch and returns the merged
// batch's error. It returns errCombinerStopped, having done nothing, when
// ctx ends before a loop takes the batch; once taken, it waits for the
// result (the batch is processed with a timeout of its own).
func (c *combiner) submit(ctx context.Context, items []item) error {
	if ctx.Err() != nil {
		return errCombinerStopped
	}
	r := combineReq{items: items, done: make(chan error, 1)}
	c.waiting.Add(1)
	select {
	case c.reqs <- r:
		c.waiting.Add(-1)
		return <-r.done
	case <-ctx.Done():
		c.waiting.Add(-1)
		return errCombinerStopped
	}
}

// enter waits until fewer loops are active than the limit allows, and
// counts this one; false when ctx ended first.
func (c *combiner) enter(ctx context.Context) bool {
	for {
		c.mu.Lock()
		if c.active < c.lanes+min(c.stalled, stall.MaxExtra) {
			c.active++
			c.mu.Unlock()
			return true
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// leaveLocked ends an active loop's turn. Called with c.mu held.
func (c *combiner) leaveLocked() {
	c.active--
	c.signalLocked()
}

func (c *combiner) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// runBatch processes items, counting the batch stalled while it runs past
// stallAfter.
func (c *combiner) runBatch(items []item) error {
	w := stall.Start(c.stallAfter, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stalled++
		c.stalls.Add(1)
		c.signalLocked()
	})
	err := c.process(items)
	if w.End() {
		c.mu.Lock()
		c.stalled--
		c.mu.Unlock()
	}
	return err
}

func (c *combiner) loop(ctx context.Context) {
	var next *combineReq // taken from the channel but too big for the last batch
	for {
		// A loop that holds a batch taken but too big for its last merged
		// batch keeps its turn for it: it must not wait for a turn that an
		// idle loop, waiting for batches, may hold while nothing else
		// arrives (the holder's partition waits for this very batch). A
		// batch once taken is finished whatever ctx says.
		if next == nil && !c.enter(ctx) {
			return
		}
		var first combineReq
		if next != nil {
			first, next = *next, nil
		} else {
			select {
			case first = <-c.reqs:
			case <-ctx.Done():
				c.mu.Lock()
				c.leaveLocked()
				c.mu.Unlock()
				return
			}
		}
		reqs := []combineReq{first}
		n := len(first.items)
	more:
		for n < c.max {
			select {
			case r := <-c.reqs:
				if n+len(r.items) > c.max {
					next = &r
					break more
				}
				reqs = append(reqs, r)
				n += len(r.items)
			default:
				break more
			}
		}
		items := first.items
		if len(reqs) > 1 {
			items = make([]item, 0, n)
			for _, r := range reqs {
				items = append(items, r.items...)
			}
		}
		err := c.runBatch(items)
		if next == nil {
			c.mu.Lock()
			c.leaveLocked()
			c.mu.Unlock()
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}
