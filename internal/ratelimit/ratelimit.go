// Package ratelimit gives each authenticated user a token bucket
// (golang.org/x/time/rate) and answers requests over it with 429 and
// Retry-After.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/orderstream/orderstream/internal/order"
)

// CodeRateLimited is the error code of a request over the limit.
const CodeRateLimited = "RATE_LIMITED"

// idleAfter is how long an unused bucket is kept.
const idleAfter = 10 * time.Minute

// Limiter holds one token bucket per key.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter allowing perSecond requests per key on average and
// bursts of burst requests.
func New(perSecond float64, burst int) *Limiter {
	return &Limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleAfter {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// AllowContext is Allow for the principal in ctx (a GraphQL websocket's
// connection and operations). Without a principal (authentication
// disabled) it always allows.
func (l *Limiter) AllowContext(ctx context.Context) (bool, time.Duration) {
	p, ok := order.PrincipalFrom(ctx)
	if !ok {
		return true, 0
	}
	return l.Allow(p.UserID)
}

// ErrorWriter writes an error response in the wire format of the endpoint
// behind the middleware (graph.WriteHTTPError, rest.WriteError).
type ErrorWriter func(w http.ResponseWriter, status int, code, message string, details map[string]any)

// Middleware limits the requests of each authenticated user (the principal
// the authentication middleware put in the context). Requests without a
// principal (authentication disabled) are not limited: there is no user to
// key them by. Over the limit it answers 429 with Retry-After and an error
// with code RATE_LIMITED and retryAfterSeconds, written by fail in the
// endpoint's format.
func (l *Limiter) Middleware(next http.Handler, fail ErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := order.PrincipalFrom(r.Context())
		if !ok || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		allowed, wait := l.Allow(p.UserID)
		if allowed {
			next.ServeHTTP(w, r)
			return
		}
		secs := int(math.Ceil(wait.Seconds()))
		msg := fmt.Sprintf("too many requests: retry after %d s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		fail(w, http.StatusTooManyRequests, CodeRateLimited, msg, map[string]any{"retryAfterSeconds": secs})
	})
}
