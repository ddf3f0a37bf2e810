package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// maxRequestsPerClient bounds the load in count as well as in time.
const maxRequestsPerClient = 100_000

// request is one createOrder call of the load and what became of it.
type request struct {
	ext, user string
	items     []any
	total     int64 // expected total, in cents
	base      string

	// code is "" for a successful answer, the GraphQL extensions.code of
	// an error, or "TRANSPORT" when no GraphQL answer came back (refused,
	// reset, timeout).
	code    string
	detail  string
	orderID string // from the answer, or the ACK_TIMEOUT extensions
	status  string
	created bool
	// wrong describes an answer that does not fit the request (another
	// order, another total): a reply routing or consistency bug.
	wrong      string
	start, end time.Time
}

// accepted reports whether OrderStream told the client its order was taken:
// a success, or ACK_TIMEOUT (stored; completes when the worker catches up).
func (r *request) accepted() bool {
	return (r.code == "" && r.orderID != "") || (r.code == "ACK_TIMEOUT" && r.orderID != "")
}

// promised reports an UNAVAILABLE answer that carries the orderId: the
// event is stored and the API promises it completes once Kafka is back. It
// does not count as accepted, but the order must exist and become final.
func (r *request) promised() bool { return r.code == "UNAVAILABLE" && r.orderID != "" }

type loadSpec struct {
	prefix   string   // externalId prefix, unique per case
	bases    []string // API URLs, used round robin
	clients  int
	duration time.Duration
	// stop, when closed, ends the load before duration.
	stop <-chan struct{}
	// pick, when set, chooses the API of request seq (a load balancer);
	// nil sends to bases round robin.
	pick func(seq uint64) string
	rng  *rand.Rand // seeds the clients
}

// loadResult is the outcome of a load run.
type loadResult struct {
	reqs    []*request
	started time.Time
	ended   time.Time
}

// runLoad drives spec.clients concurrent clients that call createOrder with
// unique externalIds until spec.duration has passed (or ctx ends), and
// waits for the requests in flight. Each client sends one request at a
// time; after a request got no answer it pauses 50 ms.
func runLoad(ctx context.Context, spec loadSpec, c *gqlClient) *loadResult {
	users := make([]string, 5)
	for i := range users {
		users[i] = uuid.NewString()
	}
	res := &loadResult{started: time.Now()}
	stop := res.started.Add(spec.duration)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Uint64
	)
	for i := range spec.clients {
		rng := rand.New(rand.NewPCG(spec.rng.Uint64(), uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < maxRequestsPerClient && time.Now().Before(stop) && ctx.Err() == nil && !closed(spec.stop); n++ {
				seq := next.Add(1)
				r := newRequest(rng, fmt.Sprintf("%s-%d-%d", spec.prefix, i, n), users[rng.IntN(len(users))])
				r.base = spec.bases[int(seq)%len(spec.bases)]
				if spec.pick != nil {
					r.base = spec.pick(seq)
				}
				r.send(ctx, c)
				mu.Lock()
				res.reqs = append(res.reqs, r)
				mu.Unlock()
				if r.code == "TRANSPORT" {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	res.ended = time.Now()
	sort.Slice(res.reqs, func(i, j int) bool { return res.reqs[i].start.Before(res.reqs[j].start) })
	return res
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// newRequest makes a create with 1 to 3 items of exact decimal prices,
// sent as strings or as JSON numbers.
func newRequest(rng *rand.Rand, ext, user string) *request {
	r := &request{ext: ext, user: user}
	for k := range 1 + rng.IntN(3) {
		cents := 1 + rng.Int64N(99_999)
		qty := 1 + rng.Int64N(5)
		price := fmt.Sprintf("%d.%02d", cents/100, cents%100)
		var p any = price
		if rng.IntN(2) == 0 {
			p = json.Number(price)
		}
		r.items = append(r.items, map[string]any{"name": fmt.Sprintf("item-%d", k), "quantity": qty, "price": p})
		r.total += cents * qty
	}
	return r
}

func (r *request) input() map[string]any {
	return map[string]any{"externalId": r.ext, "userId": r.user, "items": r.items}
}

// send calls createOrder and classifies the answer.
func (r *request) send(ctx context.Context, c *gqlClient) {
	r.start = time.Now()
	resp, err := c.do(ctx, r.base, createMut, map[string]any{"in": r.input()})
	r.end = time.Now()
	if err != nil {
		r.code, r.detail = "TRANSPORT", err.Error()
		if !errors.Is(err, errTransport) {
			r.code = "CLIENT"
		}
		return
	}
	r.code = resp.code()
	if r.code != "" {
		r.detail = resp.Errors[0].Message
		switch r.code {
		case "ACK_TIMEOUT":
			r.orderID, r.status = resp.ext("orderId"), resp.ext("status")
			if r.orderID == "" {
				r.wrong = "ACK_TIMEOUT without orderId in extensions"
			}
		case "UNAVAILABLE":
			// With orderId: stored, and promised to complete.
			r.orderID, r.status = resp.ext("orderId"), resp.ext("status")
		}
		return
	}
	p, err := resp.payload("createOrder")
	if err != nil {
		r.code, r.detail = "BAD_ANSWER", err.Error()
		return
	}
	o := p.Order
	r.orderID, r.status, r.created = o.ID, o.Status, p.Created
	switch {
	case o.ExternalID != r.ext || !strings.EqualFold(o.UserID, r.user):
		r.wrong = fmt.Sprintf("answered with order %s (%s, %s)", o.ID, o.ExternalID, o.UserID)
	case o.Status != "DONE":
		r.wrong = "answered with status " + o.Status
	case o.Total != cents(r.total):
		r.wrong = fmt.Sprintf("answered with total %s, want %s", o.Total, cents(r.total))
	case o.EventID != 0:
		r.wrong = fmt.Sprintf("answered with eventId %d, want 0", o.EventID)
	}
}

// cents formats an amount in cents as the API writes it ("12.30").
func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

func formatCodes(codes map[string]int) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, codes[k])
	}
	return b.String()
}

// at sleeps until offset d after start; false if ctx ended first.
func at(ctx context.Context, start time.Time, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(start.Add(d))):
		return true
	}
}
