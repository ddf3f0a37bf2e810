package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

// TestFaults runs every fault case, each on infrastructure of its own.
// Issue 3: every order OrderStream accepted reaches a final status exactly
// once, whatever crashes.
func TestFaults(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"WorkerSIGKILL", testWorkerSIGKILL},
		{"WorkerSIGKILLRepeated", testWorkerSIGKILLRepeated},
		{"APICrashAfterCommit", testAPICrashAfterCommit},
		{"BrokerRestart", func(t *testing.T) { testBrokerDown(t, 2*time.Second) }},
		{"BrokerDown10s", func(t *testing.T) { testBrokerDown(t, scaled(10*time.Second, 3*time.Second)) }},
		{"PostgresRestart", testPostgresRestart},
		{"PostgresToxiproxy", testPostgresToxiproxy},
		{"Rebalance", testRebalance},
		{"ConcurrentIdenticalCreates", testConcurrentIdenticalCreates},
		{"CancelRacingUpdate", testCancelRacingUpdate},
		{"LateAckAndAPIRestart", testLateAckAndAPIRestart},
		{"PoisonMessage", testPoisonMessage},
		{"RollingRestart", testRollingRestart},
		{"ReplayUnderLoad", testReplayUnderLoad},
		{"DuplicateStorm", testDuplicateStorm},
		{"WedgeTriggers", testWedgeTriggers},
		{"FrozenWorkerHoldingLocks", testFrozenWorkerHoldingLocks},
		{"PostgresSIGKILL", testPostgresSIGKILL},
		{"KafkaLeaderSIGKILL", testKafkaLeaderSIGKILL},
		{"KafkaControllerSIGKILL", testKafkaControllerSIGKILL},
		{"KafkaRollingRestart", testKafkaRollingRestart},
		{"KafkaTwoBrokersDown", testKafkaTwoBrokersDown},
		{"KafkaCoordinatorSIGKILL", testKafkaCoordinatorSIGKILL},
		{"KafkaBrokerSIGSTOP", testKafkaBrokerSIGSTOP},
		{"KafkaStartupOrdering", testKafkaStartupOrdering},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

// scaled returns long in the long form (FAULTS_DURATION set), else short.
func scaled(long, short time.Duration) time.Duration {
	if longForm {
		return long
	}
	return short
}

// frac returns f of the load duration d.
func frac(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

// env is a stack with its worker and API instances.
type env struct {
	t      *testing.T
	s      *stack
	worker *proc
	apis   []*proc
	client *gqlClient
	rng    *rand.Rand
	// allowTransport: the case kills or stops an API instance, so some
	// requests get no answer.
	allowTransport bool
}

// newEnv starts a stack, one worker and nAPIs API instances, and warms up
// the pipeline through every instance.
func newEnv(t *testing.T, opts stackOptions, nAPIs int) *env {
	t.Helper()
	s := newStack(t, opts)
	e := &env{t: t, s: s, client: newGQLClient(s.ackTimeout + 30*time.Second), rng: caseRand(caseName(t))}
	e.worker = s.startWorker("worker")
	for i := range nAPIs {
		e.apis = append(e.apis, s.startAPI(fmt.Sprintf("api-%d", i+1)))
	}
	for _, a := range e.apis {
		s.warmUp(a)
	}
	return e
}

func (e *env) bases() []string {
	var b []string
	for _, a := range e.apis {
		b = append(b, a.base())
	}
	return b
}

// loadRun is a load running in the background.
type loadRun struct {
	start    time.Time
	done     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	res      *loadResult
}

// stopNow ends the load before its duration.
func (l *loadRun) stopNow() { l.stopOnce.Do(func() { close(l.stop) }) }

// startLoad starts the load generator against every API instance for d.
func (e *env) startLoad(d time.Duration) *loadRun { return e.startLoadVia(d, nil) }

// startLoadVia is startLoad with pick choosing each request's instance.
func (e *env) startLoadVia(d time.Duration, pick func(seq uint64) string) *loadRun {
	l := &loadRun{start: time.Now(), done: make(chan struct{}), stop: make(chan struct{})}
	spec := loadSpec{prefix: caseName(e.t), bases: e.bases(), clients: loadClients, duration: d, stop: l.stop, pick: pick,
		rng: rand.New(rand.NewPCG(e.rng.Uint64(), e.rng.Uint64()))}
	go func() {
		defer close(l.done)
		l.res = runLoad(e.t.Context(), spec, e.client)
	}()
	return l
}

func (l *loadRun) wait() *loadResult {
	<-l.done
	return l.res
}

// until sleeps until offset d of the load; it fails the case if the test
// ends first.
func (e *env) until(l *loadRun, d time.Duration) {
	if !at(e.t.Context(), l.start, d) {
		e.t.Fatalf("the test ended before %s of load", d)
	}
}

// finish waits for the load, settles and reports.
func (e *env) finish(l *loadRun, rec *recovery, extra string) *verdict {
	res := l.wait()
	v := e.s.settle(res.reqs, expectDone)
	report(e.t, v, rec, e.allowTransport, extra+e.s.redeliveries())
	return v
}

// 1. The worker is killed with SIGKILL mid-load and restarted 1 s later.
// Whatever it had consumed but not marked is delivered again to the new
// worker; the applied_event_id guard makes the second delivery a no-op.
func testWorkerSIGKILL(t *testing.T) {
	e := newEnv(t, stackOptions{}, 1)
	l := e.startLoad(loadDuration)
	e.until(l, frac(loadDuration, 0.4))
	e.worker.kill()
	time.Sleep(time.Second)
	e.worker.start()
	rec := e.s.healed()
	e.finish(l, rec, "")
}

// 2. The worker is killed three times while it processes the load, each
// time restarted 300 ms later: events applied and committed in PostgreSQL
// but not yet ACKed or marked in Kafka are delivered again. Each kill comes
// at a random point (FAULTS_SEED) 0.2 to 1.2 s after the group was stable
// again with the new worker holding every partition: a worker killed while
// it is still joining the group stays a member for ever in kfake (its
// session is never expired; docs/RELIABILITY.md, "not covered"), which real
// Kafka does not do. So the load lasts at
// least until the third restart has recovered.
func testWorkerSIGKILLRepeated(t *testing.T) {
	e := newEnv(t, stackOptions{}, 1)
	l := e.startLoad(loadDuration + 2*time.Minute)
	var kills []string
	var rec *recovery
	next := frac(loadDuration, 0.1+0.3*e.rng.Float64())
	for i := range 3 {
		e.until(l, next)
		e.worker.kill()
		kills = append(kills, time.Since(l.start).Round(10*time.Millisecond).String())
		time.Sleep(300 * time.Millisecond)
		e.worker.start()
		if i == 2 {
			rec = e.s.healed()
		}
		if _, err := e.s.waitGroupStable(1, 45*time.Second); err != nil {
			t.Fatal(err)
		}
		next = time.Since(l.start) + 200*time.Millisecond + time.Duration(e.rng.Int64N(int64(time.Second)))
	}
	e.until(l, max(loadDuration, time.Since(l.start)+500*time.Millisecond))
	l.stopNow()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", kills at %v, load %s", kills, res.ended.Sub(l.start).Round(100*time.Millisecond)))
}

// 3. An API instance kills itself (SIGKILL) right after committing an
// order event and before producing it to Kafka (FAULT_CRASH_AFTER_COMMITS).
// Its client gets no answer; the order is stored, not accepted, and the
// recovery loop of the instances (RECOVERY_DELAY) must publish it so that
// it becomes final. The instance is restarted without the fault.
func testAPICrashAfterCommit(t *testing.T) {
	const crashAfter = 50
	s := newStack(t, stackOptions{})
	e := &env{t: t, s: s, client: newGQLClient(s.ackTimeout + 30*time.Second), rng: caseRand(caseName(t)), allowTransport: true}
	e.worker = s.startWorker("worker")
	crashing := s.startAPI("api-1", fmt.Sprintf("FAULT_CRASH_AFTER_COMMITS=%d", crashAfter))
	e.apis = []*proc{crashing, s.startAPI("api-2")}
	for _, a := range e.apis {
		s.warmUp(a)
	}
	l := e.startLoad(loadDuration)
	var rec *recovery
	select {
	case <-crashing.done():
		err := crashing.current().Err()
		if !strings.Contains(fmt.Sprint(err), "killed") {
			t.Errorf("api-1 exited with %v; want killed by SIGKILL", err)
		}
		time.Sleep(500 * time.Millisecond)
		crashing.env = nil // restart without the fault
		crashing.start()
		rec = s.healed()
	case <-l.done:
		t.Fatalf("api-1 did not crash during the load (FAULT_CRASH_AFTER_COMMITS=%d)", crashAfter)
	}
	v := e.finish(l, rec, "")
	if v.storedNotAccepted == 0 {
		t.Errorf("no order was stored without being accepted: the crash after the commit did not happen as designed")
	}
}

// 4. The broker is closed mid-load and started again on the same port and
// data directory after down (BrokerRestart: 2 s; BrokerDown10s: 10 s, 3 s
// in the short form). Requests during the outage may fail (UNAVAILABLE) or
// time out (ACK_TIMEOUT); our processes are not restarted.
func testBrokerDown(t *testing.T, down time.Duration) {
	e := newEnv(t, stackOptions{}, 1)
	from := frac(loadDuration, 0.25)
	d := max(loadDuration, from+down+2*time.Second)
	l := e.startLoad(d)
	e.until(l, from)
	e.s.stopKafka()
	time.Sleep(down)
	if err := e.s.startKafka(); err != nil {
		t.Fatalf("restart the broker on the same port and data directory: %v", err)
	}
	rec := e.s.healed()
	e.finish(l, rec, fmt.Sprintf(", broker down %s, load %s", down, d))
}

// 5a. PostgreSQL is restarted (fast shutdown, same port and data) mid-load.
func testPostgresRestart(t *testing.T) {
	e := newEnv(t, stackOptions{}, 1)
	l := e.startLoad(loadDuration)
	e.until(l, frac(loadDuration, 0.4))
	if err := e.s.pg.Restart(context.Background()); err != nil {
		t.Fatalf("restart postgres: %v", err)
	}
	rec := e.s.healed()
	e.finish(l, rec, "")
}

// 5b. The processes reach PostgreSQL through an embedded Toxiproxy; during
// the load it adds 200 ms latency for 2 s, then resets every connection
// for 1 s, then swallows all data for 1 s, then is healthy again.
func testPostgresToxiproxy(t *testing.T) {
	e := newEnv(t, stackOptions{toxiproxy: true}, 1)
	from := max(time.Second, frac(loadDuration, 0.25))
	d := max(loadDuration, from+4*time.Second+2*time.Second)
	l := e.startLoad(d)
	steps := []struct {
		spec, name string
		hold       time.Duration
	}{
		{`{"name": "latency", "type": "latency", "stream": "downstream", "attributes": {"latency": 200}}`, "latency", 2 * time.Second},
		{`{"name": "reset", "type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}`, "reset", time.Second},
		{`{"name": "timeout", "type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}}`, "timeout", time.Second},
	}
	e.until(l, from)
	for _, st := range steps {
		e.s.addToxic(st.spec)
		time.Sleep(st.hold)
		e.s.removeToxic(st.name)
	}
	rec := e.s.healed()
	e.finish(l, rec, fmt.Sprintf(", load %s", d))
}

// 6. A second worker joins the group at 30 % of the load and leaves
// (SIGTERM) at 70 %: two rebalances while events flow.
func testRebalance(t *testing.T) {
	e := newEnv(t, stackOptions{}, 1)
	l := e.startLoad(loadDuration)
	e.until(l, frac(loadDuration, 0.3))
	second := e.s.startWorker("worker-2")
	e.until(l, frac(loadDuration, 0.7))
	if err := second.term(30 * time.Second); err != nil {
		t.Errorf("worker-2 after SIGTERM: %v; want a clean exit", err)
	}
	rec := e.s.healed()
	e.finish(l, rec, "")
}

// 7. 100 concurrent identical createOrder calls, through two API
// instances, repeated for the load duration: each time exactly one order,
// every caller gets it, created=true exactly once.
func testConcurrentIdenticalCreates(t *testing.T) {
	const callers = 100
	e := newEnv(t, stackOptions{ackTimeout: 10 * time.Second}, 2)
	bases := e.bases()
	var reqs []*request
	start := time.Now()
	rounds := 0
	for ; rounds == 0 || time.Since(start) < loadDuration; rounds++ {
		user := uuid.NewString()
		proto := newRequest(e.rng, fmt.Sprintf("same-%d", rounds), user)
		batch := make([]*request, callers)
		var ready, wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range batch {
			r := *proto
			r.base = bases[i%len(bases)]
			batch[i] = &r
			ready.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ready.Done()
				<-gate
				batch[i].send(t.Context(), e.client)
			}()
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		reqs = append(reqs, batch...)

		created, ids := 0, map[string]int{}
		for _, r := range batch {
			if r.code != "" || r.wrong != "" {
				t.Errorf("round %d: a caller got %s %s %s; want the order", rounds, r.code, r.detail, r.wrong)
				continue
			}
			ids[r.orderID]++
			if r.created {
				created++
			}
		}
		if len(ids) != 1 || created != 1 {
			t.Errorf("round %d: order ids %v, created=true %d times; want one id, created once", rounds, ids, created)
		}
		var n, events int
		err := e.s.db.QueryRow(t.Context(), `SELECT count(*), (SELECT count(*) FROM order_events ev JOIN orders o ON o.id = ev.order_id WHERE o.external_id = $1)
			FROM orders WHERE external_id = $1`, proto.ext).Scan(&n, &events)
		if err != nil || n != 1 || events != 1 {
			t.Errorf("round %d: %d orders and %d events in the database (%v); want 1 and 1", rounds, n, events, err)
		}
		if t.Failed() {
			break
		}
	}
	v := e.s.settle(reqs, expectDone)
	report(t, v, nil, false, fmt.Sprintf(", %d rounds of %d identical creates", rounds, callers)+e.s.redeliveries())
}

// 8. For 20 orders at a time, updateOrder (through one API) and
// cancelOrder (through another) race. Every order ends CANCELLED; its items
// are the update's if the update's event came before the cancel's, else the
// original ones and the update was refused with CONFLICT.
func testCancelRacingUpdate(t *testing.T) {
	const perRound = 20
	e := newEnv(t, stackOptions{ackTimeout: 10 * time.Second}, 2)
	bases := e.bases()
	user := uuid.NewString()
	var creates []*request
	type race struct {
		create          *request
		update, cancel  *gqlResponse
		updErr, cnclErr error
		updTotal        string
	}
	var races []*race
	start := time.Now()
	for round := 0; round == 0 || time.Since(start) < loadDuration; round++ {
		batch := make([]*race, perRound)
		for i := range batch {
			r := newRequest(e.rng, fmt.Sprintf("race-%d-%d", round, i), user)
			r.base = bases[0]
			for attempt := 0; ; attempt++ {
				r.send(t.Context(), e.client)
				if r.code == "" || attempt == 20 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if r.code != "" || r.wrong != "" {
				t.Fatalf("create %s: %s %s %s", r.ext, r.code, r.detail, r.wrong)
			}
			creates = append(creates, r)
			batch[i] = &race{create: r}
		}
		var ready, wg sync.WaitGroup
		gate := make(chan struct{})
		for _, rc := range batch {
			// The update's total differs from the create's: 1 item, price
			// above any create total.
			upd := []any{map[string]any{"name": "updated", "quantity": 1, "price": cents(rc.create.total + 100)}}
			rc.updTotal = cents(rc.create.total + 100)
			ready.Add(2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				ready.Done()
				<-gate
				rc.update, rc.updErr = e.client.do(t.Context(), bases[0], updateMut, map[string]any{"in": map[string]any{
					"externalId": rc.create.ext, "userId": user, "items": upd}})
			}()
			go func() {
				defer wg.Done()
				ready.Done()
				<-gate
				rc.cancel, rc.cnclErr = e.client.do(t.Context(), bases[1%len(bases)], cancelMut, map[string]any{"in": map[string]any{
					"externalId": rc.create.ext, "userId": user, "reason": "race"}})
			}()
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		races = append(races, batch...)
	}

	v := e.s.settle(creates, func(r *request) (string, string) { return "CANCELLED", "" })
	updatesFirst, cancelsFirst := 0, 0
	for _, rc := range races {
		ext := rc.create.ext
		if rc.updErr != nil || rc.cnclErr != nil {
			t.Errorf("%s: update error %v, cancel error %v; want answers", ext, rc.updErr, rc.cnclErr)
			continue
		}
		if c := rc.cancel.code(); c != "" {
			t.Errorf("%s: cancel answered %s: %v", ext, c, rc.cancel.Errors)
		} else if p, err := rc.cancel.payload("cancelOrder"); err != nil || p.Order.Status != "CANCELLED" {
			t.Errorf("%s: cancel answered %+v (%v); want CANCELLED", ext, p.Order, err)
		}
		var status, total, firstItem string
		var eventID, applied int
		if err := e.s.db.QueryRow(t.Context(), `SELECT status, total::text, items->0->>'name', event_id, applied_event_id FROM orders WHERE external_id = $1 AND user_id = $2`,
			ext, user).Scan(&status, &total, &firstItem, &eventID, &applied); err != nil {
			t.Errorf("%s: read order: %v", ext, err)
			continue
		}
		rows, err := e.s.db.Query(t.Context(), `SELECT ev.event_id, ev.type, ev.outcome_code FROM order_events ev JOIN orders o ON o.id = ev.order_id
			WHERE o.external_id = $1 AND o.user_id = $2 ORDER BY ev.event_id`, ext, user)
		if err != nil {
			t.Errorf("%s: read events: %v", ext, err)
			continue
		}
		updAt, cancelAt := -1, -1
		var seq []string
		for rows.Next() {
			var id int
			var typ, outcome string
			if err := rows.Scan(&id, &typ, &outcome); err != nil {
				t.Errorf("%s: read event: %v", ext, err)
			}
			seq = append(seq, fmt.Sprintf("%d:%s:%s", id, typ, outcome))
			switch typ {
			case "update":
				updAt = id
			case "cancel":
				cancelAt = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Errorf("%s: read events: %v", ext, err)
			continue
		}
		updCode := rc.update.code()
		switch {
		case status != "CANCELLED" || applied != eventID || cancelAt < 0:
			t.Errorf("%s: status %s, applied %d of %d, events %v; want CANCELLED, all applied", ext, status, applied, eventID, seq)
		case updAt >= 0 && updAt < cancelAt:
			updatesFirst++
			if updCode != "" || total != rc.updTotal || firstItem != "updated" {
				t.Errorf("%s: update's event %d before the cancel's %d, but the update answered %q and the items are %s, total %s; want success and the update's items (total %s)",
					ext, updAt, cancelAt, updCode, firstItem, total, rc.updTotal)
			}
		default: // no update event, or one after the cancel
			cancelsFirst++
			if updCode != "CONFLICT" || total != cents(rc.create.total) || firstItem == "updated" {
				t.Errorf("%s: events %v, update answered %q, items %s total %s; want CONFLICT and the original items (total %s)",
					ext, seq, updCode, firstItem, total, cents(rc.create.total))
			}
		}
	}
	report(t, v, nil, false, fmt.Sprintf(", %d races: update first %d, cancel first %d", len(races), updatesFirst, cancelsFirst)+e.s.redeliveries())
}

// 9. With ACK_TIMEOUT=1s and the worker stopped, creates time out with
// ACK_TIMEOUT; the API is stopped (SIGTERM) while more creates wait and
// started again; then the worker starts. Every timed-out order becomes DONE,
// is found by orderByExternalId, and a retried create returns it
// (created=false, DONE).
func testLateAckAndAPIRestart(t *testing.T) {
	n := 10
	if longForm {
		n = 40
	}
	e := newEnv(t, stackOptions{ackTimeout: time.Second}, 1)
	api := e.apis[0]
	if err := e.worker.term(30 * time.Second); err != nil {
		t.Fatalf("stop the worker: %v", err)
	}
	user := uuid.NewString()
	burst := func(prefix string) []*request {
		reqs := make([]*request, n)
		var wg sync.WaitGroup
		for i := range reqs {
			reqs[i] = newRequest(e.rng, fmt.Sprintf("%s-%d", prefix, i), user)
			reqs[i].base = api.base()
			wg.Add(1)
			go func() { defer wg.Done(); reqs[i].send(t.Context(), e.client) }()
		}
		wg.Wait()
		return reqs
	}

	first := burst("late-a")
	for _, r := range first {
		if r.code != "ACK_TIMEOUT" || r.orderID == "" || (r.status != "NEW" && r.status != "PROCESSING") {
			t.Errorf("%s without a worker: got %s (%s) order %q status %q; want ACK_TIMEOUT with orderId and status NEW", r.ext, r.code, r.detail, r.orderID, r.status)
		}
	}

	// More creates, and a SIGTERM while they wait for their ACK: the API
	// drains them (they time out) and stops cleanly.
	second := make(chan []*request)
	go func() { second <- burst("late-b") }()
	time.Sleep(400 * time.Millisecond)
	if err := api.term(30 * time.Second); err != nil {
		t.Errorf("API after SIGTERM: %v; want a clean exit", err)
	}
	reqs := append(first, <-second...)
	api.start()
	e.worker.start()
	rec := e.s.healed()

	v := e.s.settle(reqs, expectDone)
	timedOut := 0
	for _, r := range reqs {
		if r.code != "ACK_TIMEOUT" {
			continue
		}
		timedOut++
		resp, err := e.client.do(t.Context(), api.base(), byExternalQry, map[string]any{"e": r.ext, "u": user})
		if err != nil || resp.code() != "" {
			t.Errorf("%s: orderByExternalId: %v %v", r.ext, err, resp)
			continue
		}
		var o *gqlOrder
		json.Unmarshal(resp.Data["orderByExternalId"], &o)
		if o == nil || o.Status != "DONE" || o.ID != r.orderID || o.Total != cents(r.total) {
			t.Errorf("%s: orderByExternalId gives %+v; want order %s DONE, total %s", r.ext, o, r.orderID, cents(r.total))
		}
		retry := *r
		retry.send(t.Context(), e.client)
		if retry.code != "" || retry.created || retry.status != "DONE" || retry.orderID != r.orderID || retry.wrong != "" {
			t.Errorf("%s: retried create: %s %s created=%v status %s id %s %s; want created=false, DONE, id %s",
				r.ext, retry.code, retry.detail, retry.created, retry.status, retry.orderID, retry.wrong, r.orderID)
		}
	}
	if timedOut < n {
		t.Errorf("only %d creates timed out; want at least %d", timedOut, n)
	}
	report(t, v, rec, true, fmt.Sprintf(", %d timed out", timedOut)+e.s.redeliveries())
}

// 10. Undecodable messages are produced into the orders topic (one per
// partition) in the middle of the load: the worker sends them to the
// dead-letter topic (KAFKA_DLQ_TOPIC) and keeps processing.
func testPoisonMessage(t *testing.T) {
	e := newEnv(t, stackOptions{}, 1)
	l := e.startLoad(loadDuration)
	e.until(l, frac(loadDuration, 0.5))
	marker := fmt.Sprintf("poison-%d", e.rng.Uint64())
	var sent []string
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	producer, err := sarama.NewSyncProducer(e.s.brokers, cfg)
	if err != nil {
		t.Fatalf("poison producer: %v", err)
	}
	for p := range devstack.DefaultPartitions {
		v := fmt.Sprintf("\x00\xffnot an event: %s-%d {", marker, p)
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: ordersTopic, Partition: p, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("produce poison to partition %d: %v", p, err)
		}
		sent = append(sent, v)
	}
	producer.Close()
	e.finish(l, nil, fmt.Sprintf(", %d poison messages", len(sent)))

	found := consumeAll(t, e.s.brokers, dlqTopic, marker, len(sent), 30*time.Second)
	for _, s := range sent {
		if !found[s] {
			t.Errorf("poison message %q is not in %s (found %d of %d)", s, dlqTopic, len(found), len(sent))
		}
	}
}

// consumeAll reads every partition of topic from the oldest offset until n
// distinct values containing marker were seen or timeout passes.
func consumeAll(t *testing.T, brokers []string, topic, marker string, n int, timeout time.Duration) map[string]bool {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	values := make(chan string, 1024)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				values <- string(m.Value)
			}
		}()
	}
	found := map[string]bool{}
	deadline := time.After(timeout)
	for len(found) < n {
		select {
		case v := <-values:
			if strings.Contains(v, marker) {
				found[v] = true
			}
		case <-deadline:
			return found
		}
	}
	return found
}
