package stall

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	var calls atomic.Int32
	// Ended before the limit: onStall never runs.
	w := Start(time.Hour, func() { calls.Add(1) })
	if w.End() || calls.Load() != 0 {
		t.Errorf("ended at once: stalled %v, %d calls", w.End(), calls.Load())
	}
	// Past the limit: onStall ran once, and End says so.
	fired := make(chan struct{})
	w = Start(10*time.Millisecond, func() { calls.Add(1); close(fired) })
	<-fired
	if !w.End() || calls.Load() != 1 {
		t.Errorf("after the limit: stalled %v, %d calls; want true, 1", w.End(), calls.Load())
	}
	// End waits for an onStall that is running.
	entered, release := make(chan struct{}), make(chan struct{})
	var done atomic.Bool
	w = Start(time.Millisecond, func() { close(entered); <-release; done.Store(true) })
	<-entered
	ended := make(chan bool)
	go func() { ended <- w.End() }()
	select {
	case <-ended:
		t.Fatal("End returned while onStall ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if !<-ended || !done.Load() {
		t.Error("End did not report the stall after onStall returned")
	}
	// No limit: no watch.
	if w := Start(0, func() { t.Error("onStall without a limit") }); w != nil || w.End() {
		t.Error("Start(0) made a watch")
	}
}
