package postgres

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGatherStalledBatch: with one batch in flight, a batch that runs for
// longer than stallAfter lets the queue behind it run as another batch, and
// later requests run at once while it stays stalled; once it ends, one
// batch at a time again. Without a stall limit the queue waits.
func TestGatherStalledBatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stall time.Duration
	}{{"stall after 20ms", 20 * time.Millisecond}, {"no stall limit", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			gate := make(chan struct{})
			started := make(chan int, 16)
			var g *gather[int, int]
			g = newGather(64, 1, tt.stall, func(batch []*job[int, int]) {
				started <- batch[0].req
				if batch[0].req == 1 {
					<-gate // the first request's batch hangs until released
				}
				for _, j := range batch {
					j.answer(j.req * 10)
				}
			})
			answers := make(chan [2]int, 16)
			var wg sync.WaitGroup
			ask := func(n int) {
				wg.Add(1)
				go func() { defer wg.Done(); answers <- [2]int{n, g.do(n)} }()
			}
			ask(1)
			if got := <-started; got != 1 {
				t.Fatalf("first batch led by %d", got)
			}
			ask(2)
			select {
			case a := <-answers:
				if tt.stall == 0 {
					t.Fatalf("request 2 answered (%v) while the first batch hung, without a stall limit", a)
				}
				if a != [2]int{2, 20} {
					t.Fatalf("answer %v; want [2 20]", a)
				}
				// Still stalled: a later request runs at once too.
				ask(3)
				if a := <-answers; a != [2]int{3, 30} {
					t.Fatalf("answer %v; want [3 30]", a)
				}
			case <-time.After(500 * time.Millisecond):
				if tt.stall > 0 {
					t.Fatal("request 2 still waits 500ms after the first batch stalled")
				}
				if q := g.queued(); q != 1 {
					t.Fatalf("%d queued; want request 2", q)
				}
			}
			close(gate)
			wg.Wait()
			g.mu.Lock()
			running, stalled := g.running, g.stalled
			g.mu.Unlock()
			if running != 0 || stalled != 0 {
				t.Errorf("at rest: %d running, %d stalled; want 0 and 0", running, stalled)
			}
			if got := g.stalls.Load(); (tt.stall > 0) != (got > 0) {
				t.Errorf("stalls counted: %d", got)
			}
		})
	}
}

// TestGatherBackToOneBatch: after a stall, the extra batches do not keep
// taking the queue: a batch that ends while more run than allowed frees its
// slot, so under a steady load one batch runs at a time again.
func TestGatherBackToOneBatch(t *testing.T) {
	var mu sync.Mutex
	running, most, measuring := 0, 0, false
	hang, hung := make(chan struct{}), make(chan struct{})
	// Batches of 4 for 16 clients: there is always a queue to hand on.
	g := newGather(4, 1, 200*time.Millisecond, func(batch []*job[int, int]) {
		mu.Lock()
		running++
		if measuring {
			most = max(most, running)
		}
		mu.Unlock()
		if batch[0].req == 0 {
			close(hung)
			<-hang
		} else {
			time.Sleep(time.Millisecond) // far below the stall limit
		}
		mu.Lock()
		running--
		mu.Unlock()
		for _, j := range batch {
			j.answer(j.req)
		}
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.do(0) }()
	<-hung // request 0's batch runs (alone: nothing else was asked yet)
	var stop atomic.Bool
	for i := 1; i <= 16; i++ { // a steady load, queued behind request 0's batch
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g.do(i)
			}
		}()
	}
	time.Sleep(400 * time.Millisecond) // request 0's batch stalls: the load runs beside it
	if n := g.stalls.Load(); n < 1 {
		t.Fatalf("%d stalls; want request 0's", n)
	}
	close(hang)
	time.Sleep(100 * time.Millisecond) // the extra batch finishes
	mu.Lock()
	measuring = true
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if most != 1 {
		t.Errorf("%d batches ran at once after the stall ended; want 1", most)
	}
}
