package faults

// The cases of a real three-node Apache Kafka cluster (issue 12): broker
// crashes, the controller, rolling restarts, a cluster below
// min.insync.replicas, the group coordinator, a frozen broker, and services
// started before the cluster. Each runs the load on a cluster of its own
// (KRaft, combined broker+controller nodes, topics with 3 replicas and
// min.insync.replicas 2) and uses the suite's checker.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/devstack"
)

// newKafkaEnv is newEnv on a three-node Apache Kafka cluster.
func newKafkaEnv(t *testing.T, nAPIs int) *env {
	t.Helper()
	return newEnv(t, stackOptions{kafka: "apache3"}, nAPIs)
}

// waitKafka waits until every running node of the cluster serves again.
func (s *stack) waitKafka() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 2*time.Minute)
	defer cancel()
	if err := s.apache.WaitReady(ctx); err != nil {
		s.t.Fatalf("the cluster did not come back: %v", err)
	}
}

// answersIn summarises the answers of the requests that started in
// [from, to): how many, by code, and the slowest.
func answersIn(reqs []*request, from, to time.Time) string {
	codes := map[string]int{}
	var slowest time.Duration
	for _, r := range reqs {
		if r.start.Before(from) || !r.start.Before(to) {
			continue
		}
		c := r.code
		if c == "" {
			c = "OK"
		}
		codes[c]++
		slowest = max(slowest, r.end.Sub(r.start))
	}
	return fmt.Sprintf("during the fault: %s, slowest %s", formatCodes(codes), slowest.Round(10*time.Millisecond))
}

// LeaderSIGKILL: the broker that leads the most partitions of the orders
// topic is killed with SIGKILL under load and started again 10 s later
// (4 s in the short form). Its partitions move to the other replicas
// (min.insync.replicas 2 of 3: writes go on); nothing accepted is lost.
func testKafkaLeaderSIGKILL(t *testing.T) {
	e := newKafkaEnv(t, 1)
	d := max(loadDuration, 8*time.Second)
	l := e.startLoad(d)
	e.until(l, frac(d, 0.25))
	id, n, err := e.s.apache.TopLeader(t.Context(), ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	if err := e.s.apache.Kill(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(scaled(10*time.Second, 4*time.Second))
	if err := e.s.apache.Start(id); err != nil {
		t.Fatal(err)
	}
	rec := e.s.healed()
	e.s.waitKafka()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", node %d (leader of %d of %d partitions) killed; %s", id, n, devstack.DefaultPartitions,
		answersIn(res.reqs, from, time.Now())))
}

// ControllerSIGKILL: the active KRaft controller is killed with SIGKILL
// under load; another voter takes over; the node comes back 5 s later.
func testKafkaControllerSIGKILL(t *testing.T) {
	e := newKafkaEnv(t, 1)
	d := max(loadDuration, 8*time.Second)
	l := e.startLoad(d)
	e.until(l, frac(d, 0.25))
	id, err := e.s.apache.ActiveController(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	if err := e.s.apache.Kill(id); err != nil {
		t.Fatal(err)
	}
	var next int32
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		next, err = e.s.apache.ActiveController(ctx)
		cancel()
		if err == nil && next != id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new active controller within 30 s of killing %d: %d, %v", id, next, err)
		}
	}
	took := time.Since(from)
	time.Sleep(5 * time.Second)
	if err := e.s.apache.Start(id); err != nil {
		t.Fatal(err)
	}
	rec := e.s.healed()
	e.s.waitKafka()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", controller %d killed, %d active after %s; %s", id, next, took.Round(10*time.Millisecond),
		answersIn(res.reqs, from, time.Now())))
}

// RollingBrokerRestart: each broker in turn gets SIGTERM (a controlled
// shutdown: it hands its leaderships over) and is started again, the next
// one once the cluster serves again.
func testKafkaRollingRestart(t *testing.T) {
	e := newKafkaEnv(t, 1)
	l := e.startLoad(5 * time.Minute) // ended below, after the last restart
	e.until(l, frac(loadDuration, 0.2))
	from := time.Now()
	var took []string
	for _, id := range e.s.apache.NodeIDs() {
		start := time.Now()
		if err := e.s.apache.Stop(id, 30*time.Second); err != nil {
			t.Errorf("node %d did not stop cleanly: %v", id, err)
		}
		if err := e.s.apache.Start(id); err != nil {
			t.Fatal(err)
		}
		e.s.waitKafka()
		took = append(took, time.Since(start).Round(100*time.Millisecond).String())
	}
	rec := e.s.healed()
	time.Sleep(time.Second)
	l.stopNow()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", nodes restarted one by one in %v; %s", took, answersIn(res.reqs, from, time.Now())))
}

// TwoBrokersDown: two of the three brokers are killed: the cluster is
// below min.insync.replicas (and without a controller quorum), so no write
// can be stored. The API must answer fast and cleanly: UNAVAILABLE after
// KAFKA_PRODUCE_TIMEOUT (the event is stored: it carries the orderId), or
// ACK_TIMEOUT for what was sent before; nothing accepted is lost. Once the
// brokers are back, the outbox publishes and every order completes.
func testKafkaTwoBrokersDown(t *testing.T) {
	e := newKafkaEnv(t, 1)
	down := scaled(15*time.Second, 8*time.Second)
	d := max(loadDuration, down+6*time.Second)
	l := e.startLoad(d)
	e.until(l, frac(d, 0.15))
	ids := e.s.apache.NodeIDs()[1:]
	from := time.Now()
	for _, id := range ids {
		if err := e.s.apache.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(down)
	to := time.Now()
	for _, id := range ids {
		if err := e.s.apache.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	rec := e.s.healed()
	e.s.waitKafka()
	res := l.wait()
	// Fast: no request that started during the outage waited much longer
	// than the produce timeout (5 s) or the ACK timeout (5 s here).
	var slowest time.Duration
	for _, r := range res.reqs {
		if !r.start.Before(from) && r.start.Before(to.Add(-6*time.Second)) {
			slowest = max(slowest, r.end.Sub(r.start))
		}
	}
	if slowest > 15*time.Second {
		t.Errorf("a request sent while two brokers were down took %s; want an answer within seconds (produce timeout 5 s)", slowest)
	}
	e.finish(l, rec, fmt.Sprintf(", nodes %v down %s; %s", ids, down, answersIn(res.reqs, from, to)))
}

// CoordinatorSIGKILL: the group coordinator of the workers' group is
// killed with SIGKILL while a second worker joins the group; the group
// moves to another coordinator and the rebalance completes.
func testKafkaCoordinatorSIGKILL(t *testing.T) {
	e := newKafkaEnv(t, 1)
	d := max(loadDuration, 10*time.Second)
	l := e.startLoad(d)
	e.until(l, frac(d, 0.2))
	id, err := e.s.apache.Coordinator(t.Context(), e.s.group)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	joined := make(chan *proc, 1)
	go func() { joined <- e.s.startWorker("worker-2") }() // joins while the coordinator dies
	time.Sleep(200 * time.Millisecond)
	if err := e.s.apache.Kill(id); err != nil {
		t.Fatal(err)
	}
	second := <-joined
	if _, err := e.s.waitGroupStable(2, 90*time.Second); err != nil {
		t.Errorf("the group did not settle with 2 members after its coordinator died: %v", err)
	}
	settled := time.Since(from)
	if err := e.s.apache.Start(id); err != nil {
		t.Fatal(err)
	}
	rec := e.s.healed()
	e.s.waitKafka()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", coordinator %d killed as %s joined; group stable with 2 members after %s; %s", id, second.name,
		settled.Round(100*time.Millisecond), answersIn(res.reqs, from, time.Now())))
}

// BrokerSIGSTOP: one broker (the top leader of the orders topic) is frozen
// with SIGSTOP for longer than the request timeout (12 s; 30 s in the long
// form), then resumed: its connections hang instead of failing, until the
// cluster fences it and moves its leaderships.
func testKafkaBrokerSIGSTOP(t *testing.T) {
	e := newKafkaEnv(t, 1)
	pause := scaled(30*time.Second, 12*time.Second)
	d := max(loadDuration, pause+6*time.Second)
	l := e.startLoad(d)
	e.until(l, frac(d, 0.15))
	id, _, err := e.s.apache.TopLeader(t.Context(), ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	if err := e.s.apache.Pause(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	if err := e.s.apache.Resume(id); err != nil {
		t.Fatal(err)
	}
	rec := e.s.healed()
	e.s.waitKafka()
	res := l.wait()
	e.finish(l, rec, fmt.Sprintf(", node %d frozen %s; %s", id, pause, answersIn(res.reqs, from, time.Now())))
}

// StartupOrdering: the API and the worker are started while every broker
// is down (they retry with backoff, STARTUP_TIMEOUT); the cluster comes
// up afterwards and the services must be ready without a restart.
func testKafkaStartupOrdering(t *testing.T) {
	s := newStack(t, stackOptions{kafka: "apache3"})
	// All at once, with SIGKILL: a graceful stop of the last node waits for
	// a controller quorum that is gone.
	for _, id := range s.apache.NodeIDs() {
		if err := s.apache.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, s: s, client: newGQLClient(s.ackTimeout + 30*time.Second), rng: caseRand(caseName(t))}
	started := make(chan []*proc, 1)
	go func() {
		w := s.startWorker("worker")
		a := s.startAPI("api-1")
		started <- []*proc{w, a}
	}()
	time.Sleep(3 * time.Second) // the services are waiting for Kafka now
	up := time.Now()
	for _, id := range s.apache.NodeIDs() {
		if err := s.apache.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	procs := <-started
	ready := time.Since(up)
	e.worker, e.apis = procs[0], procs[1:]
	if !slices.ContainsFunc(e.apis, func(p *proc) bool { return p.svc.Starts() == 1 }) {
		t.Errorf("the API was restarted; want it to wait for Kafka")
	}
	s.warmUp(e.apis[0])
	l := e.startLoad(loadDuration)
	e.finish(l, nil, fmt.Sprintf(", services ready %s after the brokers were started", ready.Round(100*time.Millisecond)))
}
