package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// storedOrder is a row of orders as the checker reads it.
type storedOrder struct {
	id                       int64
	ext, user, status, total string
	eventID, appliedEventID  int
}

// final reports whether the worker has applied every accepted event of the
// order (no NEW or PROCESSING left).
func (o storedOrder) final() bool {
	return o.appliedEventID == o.eventID && o.status != "NEW" && o.status != "PROCESSING"
}

// verdict is what the checker found in PostgreSQL.
type verdict struct {
	attempted, accepted int
	// final: accepted orders found in their expected final status, with
	// applied_event_id = event_id.
	final int
	// lost: accepted orders missing, or never final (and orders answered
	// UNAVAILABLE with an orderId, a promise to complete, that did not).
	lost int
	// promised: UNAVAILABLE answers with an orderId.
	promised int
	// bad: accepted orders final in another status or with another total.
	bad int
	// stored: orders of the load found in the database; storedNotAccepted
	// of those the client was not told were accepted.
	stored, storedNotAccepted int
	// notFinal: stored orders (any, warm-ups included) still NEW or
	// PROCESSING; pending: events not applied.
	notFinal, pending int
	// appliedTwice: order_events rows with apply_count > 1 (-1: unknown).
	appliedTwice int
	// wrongAnswers: answers that did not fit their request.
	wrongAnswers int
	codes        map[string]int
	problems     []string
	// settled is when everything was final, or the zero time.
	settled time.Time
}

func (v *verdict) problem(format string, args ...any) {
	if len(v.problems) < 20 {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

func (v *verdict) quiet() bool { return v.lost == 0 && v.notFinal == 0 && v.pending == 0 }

// expectFunc gives the final status an accepted request must reach and the
// total its order must have ("" for the request's own total).
type expectFunc func(r *request) (status, total string)

func expectDone(r *request) (string, string) { return "DONE", cents(r.total) }

// settle polls PostgreSQL until every accepted order is final, no stored
// order is NEW or PROCESSING and no event is pending, or until
// settleTimeout, and returns the last verdict.
func (s *stack) settle(reqs []*request, expect expectFunc) *verdict {
	deadline := time.Now().Add(settleTimeout)
	for {
		v, err := s.inspect(reqs, expect)
		if err == nil && v.quiet() {
			v.settled = time.Now()
			return v
		}
		if time.Now().After(deadline) {
			if err != nil {
				s.t.Errorf("checker: %v", err)
				if v == nil {
					v = &verdict{appliedTwice: -1}
				}
			}
			return v
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// inspect reads the orders and events and compares them with the requests.
func (s *stack) inspect(reqs []*request, expect expectFunc) (*verdict, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT id, external_id, user_id::text, status, event_id, applied_event_id, total::text FROM orders`)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	orders := map[string]storedOrder{}
	v := &verdict{codes: map[string]int{}}
	for rows.Next() {
		var o storedOrder
		if err := rows.Scan(&o.id, &o.ext, &o.user, &o.status, &o.eventID, &o.appliedEventID, &o.total); err != nil {
			rows.Close()
			return nil, err
		}
		orders[o.ext+"|"+o.user] = o
		if !o.final() {
			v.notFinal++
			v.problem("order %d (%s) is %s with applied_event_id %d < event_id %d", o.id, o.ext, o.status, o.appliedEventID, o.eventID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE applied_at IS NULL`).Scan(&v.pending); err != nil {
		return nil, fmt.Errorf("count pending events: %w", err)
	}
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE apply_count > 1`).Scan(&v.appliedTwice); err != nil {
		return nil, fmt.Errorf("count events applied twice (order_events.apply_count): %w", err)
	}

	for _, r := range reqs {
		v.attempted++
		code := r.code
		if code == "" {
			code = "OK"
		}
		v.codes[code]++
		if r.wrong != "" {
			v.wrongAnswers++
			v.problem("request %s: %s", r.ext, r.wrong)
		}
		o, stored := orders[r.ext+"|"+r.user]
		if stored {
			v.stored++
		}
		if !r.accepted() {
			if stored {
				v.storedNotAccepted++
			}
			if r.promised() {
				v.promised++
				if !stored || !o.final() || fmt.Sprint(o.id) != r.orderID {
					v.lost++
					v.problem("order %s answered UNAVAILABLE with orderId %s (stored, completes later) is missing or not final: %+v", r.ext, r.orderID, o)
				}
			}
			continue
		}
		v.accepted++
		wantStatus, wantTotal := expect(r)
		switch {
		case !stored:
			v.lost++
			v.problem("accepted order %s (id %s, answer %q) is missing", r.ext, r.orderID, code)
		case !o.final():
			v.lost++
			v.problem("accepted order %s (id %d) is not final: %s, applied_event_id %d, event_id %d", r.ext, o.id, o.status, o.appliedEventID, o.eventID)
		case o.status != wantStatus || (wantTotal != "" && o.total != wantTotal) || fmt.Sprint(o.id) != r.orderID:
			v.bad++
			v.problem("accepted order %s: id %d status %s total %s; want id %s status %s total %s", r.ext, o.id, o.status, o.total, r.orderID, wantStatus, wantTotal)
		default:
			v.final++
		}
	}
	if v.pending > 0 {
		v.problem("%d events not applied", v.pending)
	}
	return v, nil
}

// recovery measures how long after a fault was healed every order stored
// before the heal became final.
type recovery struct {
	healed time.Time
	done   chan struct{}
	took   time.Duration // set before done is closed, if ok
	ok     bool
	cancel context.CancelFunc
}

// healed starts measuring recovery: it notes the newest order now stored
// and polls until no order up to it has an unapplied event.
func (s *stack) healed() *recovery {
	ctx, cancel := context.WithCancel(context.Background())
	m := &recovery{healed: time.Now(), done: make(chan struct{}), cancel: cancel}
	s.t.Cleanup(cancel)
	go func() {
		defer close(m.done)
		maxID := int64(-1)
		for ctx.Err() == nil {
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			var err error
			if maxID < 0 {
				err = s.db.QueryRow(qctx, `SELECT coalesce(max(id), 0) FROM orders`).Scan(&maxID)
			}
			var n int
			if err == nil {
				err = s.db.QueryRow(qctx, `SELECT count(*) FROM orders WHERE id <= $1 AND applied_event_id < event_id`, maxID).Scan(&n)
			}
			qcancel()
			if err == nil && n == 0 {
				m.took, m.ok = time.Since(m.healed), true
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return m
}

// result waits briefly for the measurement after the checker settled.
func (m *recovery) result(v *verdict) string {
	if m == nil {
		return "-"
	}
	select {
	case <-m.done:
	case <-time.After(2 * time.Second):
		m.cancel()
		<-m.done
	}
	if m.ok {
		return m.took.Round(10 * time.Millisecond).String()
	}
	if !v.settled.IsZero() {
		return v.settled.Sub(m.healed).Round(10 * time.Millisecond).String()
	}
	return "not recovered"
}

// cleanCodes are the answers a client may get while a fault lasts: the
// order is taken (OK, ACK_TIMEOUT) or the client is told to retry
// (UNAVAILABLE). TRANSPORT (no answer) is clean only where a case kills or
// stops an API instance.
var cleanCodes = map[string]bool{"OK": true, "ACK_TIMEOUT": true, "UNAVAILABLE": true}

// uncleanAnswers counts the answers outside cleanCodes (plus TRANSPORT if
// allowed).
func uncleanAnswers(codes map[string]int, allowTransport bool) (n int, which []string) {
	for c, k := range codes {
		if cleanCodes[c] || (allowTransport && c == "TRANSPORT") {
			continue
		}
		n += k
		which = append(which, fmt.Sprintf("%s=%d", c, k))
	}
	return n, which
}

// report prints one line for the case, appends a row to FAULTS_REPORT and
// asserts that orders were accepted, that nothing accepted was lost or applied twice, that every
// stored order is final and that clients got only clean answers.
func report(t *testing.T, v *verdict, rec *recovery, allowTransport bool, extra string) {
	t.Helper()
	name := caseName(t)
	recov := rec.result(v)
	repro := fmt.Sprintf("`go test -count=1 -v -run 'TestFaults/^%s$' ./faults/`; `make faults FAULTS_RUN='TestFaults/^%s$'`", name, name)
	seedNote := fmt.Sprintf("FAULTS_SEED=%d", seed)
	t.Logf("FAULTS %s: attempted=%d accepted=%d final=%d lost=%d applied_twice=%d recovery=%s | stored=%d stored_not_accepted=%d unavailable_with_order_id=%d bad=%d wrong_answers=%d not_final=%d pending=%d | answers: %s | %s, duration %s%s",
		name, v.attempted, v.accepted, v.final, v.lost, v.appliedTwice, recov,
		v.stored, v.storedNotAccepted, v.promised, v.bad, v.wrongAnswers, v.notFinal, v.pending, formatCodes(v.codes), seedNote, loadDuration, extra)
	for _, p := range v.problems {
		t.Logf("  problem: %s", p)
	}
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		appendRow(t, path, fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %s | %s %s |",
			name, v.attempted, v.accepted, v.final, v.lost, v.appliedTwice, recov, seedNote, repro))
	}
	if v.accepted == 0 {
		t.Errorf("no request of %d was accepted: the case proves nothing", v.attempted)
	}
	if v.lost != 0 {
		t.Errorf("%d accepted orders lost (missing or never final)", v.lost)
	}
	if v.appliedTwice != 0 {
		t.Errorf("applied twice: %d events have apply_count > 1 (-1: could not count)", v.appliedTwice)
	}
	if v.bad != 0 {
		t.Errorf("%d accepted orders ended in the wrong state", v.bad)
	}
	if v.notFinal != 0 || v.pending != 0 {
		t.Errorf("%d stored orders not final, %d events pending after %s", v.notFinal, v.pending, settleTimeout)
	}
	if v.wrongAnswers != 0 {
		t.Errorf("%d answers did not fit their request", v.wrongAnswers)
	}
	if n, which := uncleanAnswers(v.codes, allowTransport); n != 0 {
		t.Errorf("%d answers were not clean (want only OK, ACK_TIMEOUT, UNAVAILABLE%s): %v",
			n, map[bool]string{true: ", TRANSPORT"}[allowTransport], which)
	}
}

var reportMu sync.Mutex

const reportHeader = "| case | attempted | accepted | final | lost | applied twice | recovery | reproduce |\n|---|---|---|---|---|---|---|---|\n"

func appendRow(t *testing.T, path, row string) {
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("FAULTS_REPORT: %v", err)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		f.WriteString(reportHeader)
	}
	f.WriteString(row + "\n")
}

// caseName is the subtest name without the parent test's.
func caseName(t *testing.T) string {
	_, name, _ := strings.Cut(t.Name(), "/")
	return name
}
