package faults

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"testing"
)

// readyBalancer is the client side of a load balancer: it polls each API
// instance's /readyz and sends requests round robin to the instances that
// answered 200 last, so that an instance that started draining (503) gets
// no new request, and one that is ready again gets them again.
type readyBalancer struct {
	bases []string
	ready []atomic.Bool
	every time.Duration

	mu     sync.Mutex
	events []string // "api-1 out at 1.23s", for the report
	start  time.Time
}

func newReadyBalancer(ctx context.Context, names, bases []string, every time.Duration) *readyBalancer {
	b := &readyBalancer{bases: bases, ready: make([]atomic.Bool, len(bases)), every: every, start: time.Now()}
	// A probe may take a while (/readyz asks Kafka for metadata: tens of
	// milliseconds on a real broker under load); a timeout is not a "not
	// ready", only an answer other than 200 is, as for a load balancer that
	// marks an instance down on its answer.
	hc := &http.Client{Timeout: 2 * time.Second}
	for i := range bases {
		b.ready[i].Store(true)
		go func() {
			for ctx.Err() == nil {
				ok := false
				resp, err := hc.Get(bases[i] + "/readyz")
				if err == nil {
					ok = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
				if was := b.ready[i].Swap(ok); was != ok {
					b.note(fmt.Sprintf("%s %s at %s", names[i], map[bool]string{true: "in", false: "out"}[ok], time.Since(b.start).Round(10*time.Millisecond)))
				}
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		}()
	}
	return b
}

func (b *readyBalancer) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, s)
}

// pick returns a ready instance for request seq (round robin), or any
// instance when none is ready.
func (b *readyBalancer) pick(seq uint64) string {
	n := uint64(len(b.bases))
	for k := range n {
		if i := (seq + k) % n; b.ready[i].Load() {
			return b.bases[i]
		}
	}
	return b.bases[seq%n]
}

func (b *readyBalancer) isReady(i int) bool { return b.ready[i].Load() }

// 11. Rolling restart (issue 10, drain before close): two API instances
// behind a client that stops sending to an instance once its /readyz
// fails and returns to it once it is ready. Each instance in turn gets
// SIGTERM: /readyz turns 503 at once, it keeps serving for
// SHUTDOWN_DRAIN_DELAY (1 s here) while the client moves away, then closes
// its listener, finishes what is in flight and exits; it is started again
// and, once the client sends to it again, the next one goes. No request
// may fail: every answer is OK.
func testRollingRestart(t *testing.T) {
	const drain = time.Second
	e := newEnv(t, stackOptions{env: []string{"SHUTDOWN_DRAIN_DELAY=" + drain.String()}}, 2)
	names := []string{e.apis[0].name, e.apis[1].name}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lb := newReadyBalancer(ctx, names, e.bases(), 20*time.Millisecond)
	rounds := 1
	if longForm {
		rounds = 3
	}
	l := e.startLoadVia(loadDuration+2*time.Minute, lb.pick)
	e.until(l, frac(loadDuration, 0.2))
	var stops []string
	for round := range rounds {
		for i, api := range e.apis {
			begin := time.Now()
			if err := api.term(30 * time.Second); err != nil {
				t.Errorf("round %d: %s after SIGTERM: %v; want a clean exit", round, api.name, err)
			}
			stopped := time.Since(begin)
			api.start()
			for deadline := time.Now().Add(10 * time.Second); !lb.isReady(i); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: the client does not send to %s again 10 s after it was ready", round, api.name)
				}
			}
			stops = append(stops, fmt.Sprintf("%s exited %s after SIGTERM", api.name, stopped.Round(10*time.Millisecond)))
			time.Sleep(300 * time.Millisecond) // both serve for a moment
		}
	}
	e.until(l, max(loadDuration, time.Since(l.start)+500*time.Millisecond))
	l.stopNow()
	res := l.wait()
	failed := 0
	for _, r := range res.reqs {
		if r.code != "" {
			failed++
		}
	}
	lb.mu.Lock()
	events := strings.Join(lb.events, ", ")
	lb.mu.Unlock()
	v := e.finish(l, nil, fmt.Sprintf(", %d restarts (drain %s), failed requests %d, load %s; %s; readiness seen by the client: %s",
		len(stops), drain, failed, res.ended.Sub(l.start).Round(100*time.Millisecond), strings.Join(stops, ", "), events))
	if failed != 0 {
		t.Errorf("%d of %d requests failed during the rolling restart; want 0 (answers: %s)", failed, v.attempted, formatCodes(v.codes))
	}
}
