package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
// already waiting, up to max events. Several loops run, so that one batch
// can be formed while another commits.
//
// A batch once taken by a loop is finished, whatever happens to the session
// or the worker meanwhile: its partition's goroutine waits for it, so that
// the consumer group's Close (which waits for those goroutines) returns
// only when no merged batch is still writing to the database or producing
// ACKs, as without the combiner.
type combiner struct {
	process func(items []item) error
	max     int
	// reqs is unbuffered: a send succeeds only when a loop takes the batch.
	reqs    chan combineReq
	loops   sync.WaitGroup
	waiting atomic.Int32 // batches being handed in (for tests)
}

type combineReq struct {
	items []item
	done  chan error
}

// newCombiner starts loops goroutines that run process on merged batches
// of up to max items until ctx ends.
func newCombiner(ctx context.Context, process func(items []item) error, max, loops int) *combiner {
	c := &combiner{process: process, max: max, reqs: make(chan combineReq)}
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

func (c *combiner) loop(ctx context.Context) {
	var next *combineReq // taken from the channel but too big for the last batch
	for {
		var first combineReq
		if next != nil {
			first, next = *next, nil
		} else {
			select {
			case first = <-c.reqs:
			case <-ctx.Done():
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
		err := c.process(items)
		for _, r := range reqs {
			r.done <- err
		}
	}
}
