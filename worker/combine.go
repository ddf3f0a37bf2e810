package main

import (
	"context"
	"errors"
)

// errCombinerStopped means the combiner no longer takes batches: the worker
// is shutting down, and the caller processes its batch alone.
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
type combiner struct {
	process func(items []item) error
	max     int
	reqs    chan combineReq
}

type combineReq struct {
	items []item
	done  chan error
}

// newCombiner starts loops goroutines that run process on merged batches
// of up to max items until ctx ends.
func newCombiner(ctx context.Context, process func(items []item) error, max, loops int) *combiner {
	// Buffered: a partition hands in its batch without waiting for a loop.
	c := &combiner{process: process, max: max, reqs: make(chan combineReq, 64)}
	for range loops {
		go c.loop(ctx)
	}
	return c
}

// submit processes items as part of a merged batch and returns the merged
// batch's error. It returns errCombinerStopped when ctx ends first (the
// session or the worker ends): then the items may or may not have been
// processed, and the caller processes them alone, which is safe because
// applying an event twice changes nothing.
func (c *combiner) submit(ctx context.Context, items []item) error {
	if ctx.Err() != nil {
		return errCombinerStopped
	}
	r := combineReq{items: items, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return errCombinerStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
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
