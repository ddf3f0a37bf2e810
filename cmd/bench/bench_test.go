package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

func ms(v ...int) []time.Duration {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 50, 7 * time.Millisecond},
		{"one value p99", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		// Nearest rank: ceil(0.5*4) = 2nd value, never an interpolation.
		{"p50 of four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p95 of four", ms(1, 2, 3, 4), 95, 4 * time.Millisecond},
		{"tiny p gives the min", ms(1, 2, 3, 4), 0.001, time.Millisecond},
		// p99 of 10 values: ceil(9.9) = 10th, the max: one slow request
		// among ten shows up in p99.
		{"p99 of ten", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 500), 99, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestRunLoadCountsOnlyTheWindow(t *testing.T) {
	var calls atomic.Int64
	var windowCalls []bool
	res := runLoad(context.Background(), loadSpec{
		level:    4,
		warmup:   50 * time.Millisecond,
		duration: 200 * time.Millisecond,
		maxOps:   1_000_000,
		grace:    time.Second,
		onWindow: func(start bool) { windowCalls = append(windowCalls, start) },
		op: func(ctx context.Context, worker int, rng *rand.Rand) string {
			n := calls.Add(1)
			time.Sleep(time.Millisecond)
			if n%10 == 0 {
				return "BOOM"
			}
			return ""
		},
	})
	if !slices.Equal(windowCalls, []bool{true, false}) {
		t.Errorf("onWindow calls = %v, want [true false]", windowCalls)
	}
	total := int64(res.ok + res.errorCount())
	if total == 0 || total >= calls.Load() {
		t.Errorf("measured %d of %d operations: the warm-up must not be counted", total, calls.Load())
	}
	if res.errors["BOOM"] == 0 || res.ok == 0 {
		t.Errorf("ok = %d, errors = %v: want both", res.ok, res.errors)
	}
	if !slices.IsSorted(res.lat) || len(res.lat) != res.ok {
		t.Errorf("latencies: %d, sorted %v; want %d sorted", len(res.lat), slices.IsSorted(res.lat), res.ok)
	}
	if res.window != 200*time.Millisecond || res.capped || res.interrupted {
		t.Errorf("window %v capped %v interrupted %v", res.window, res.capped, res.interrupted)
	}
}

func TestRunLoadStopsAtMaxOps(t *testing.T) {
	var calls atomic.Int64
	start := time.Now()
	res := runLoad(context.Background(), loadSpec{
		level: 3, duration: time.Minute, maxOps: 30, grace: time.Second,
		op: func(context.Context, int, *rand.Rand) string { calls.Add(1); return "" },
	})
	if calls.Load() != 30 || !res.capped {
		t.Errorf("calls = %d, capped = %v; want 30, true", calls.Load(), res.capped)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a capped run took %s", time.Since(start))
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\torderstream\nVmPeak:\t 1300000 kB\nVmHWM:\t   34816 kB\nVmRSS:\t   30000 kB\n"
	if v, ok := statusKB(status, "VmHWM"); !ok || v != 34816 {
		t.Errorf("VmHWM = %d, %v; want 34816", v, ok)
	}
	if _, ok := statusKB(status, "VmSwap"); ok {
		t.Error("VmSwap found in a status without it")
	}
}

func TestParseMachineCPU(t *testing.T) {
	m, err := parseMachineCPU("cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal; guest is inside user.
	if want := (machineCPU{busy: 161, iowait: 20, total: 1181}); m != want {
		t.Errorf("parseMachineCPU = %+v, want %+v", m, want)
	}
}

func TestParseLevels(t *testing.T) {
	got, err := parseLevels("1, 16,64,128")
	if err != nil || !slices.Equal(got, []int{1, 16, 64, 128}) {
		t.Errorf("parseLevels = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-1", "4,4", "x", "5000"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q): no error", bad)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(nil, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.levels, []int{1, 16, 64, 128}) || c.duration != 10*time.Second || c.rows != 1_000_000 || c.maxLevel() != 128 || c.rounds != 1 || c.apacheJIT != jitC1C2 {
		t.Errorf("defaults: %+v", c)
	}
	for _, args := range [][]string{
		{"-api", "http://example.com:8080"},
		{"-api", "https://127.0.0.1:8080"},
		{"-api-pid", "12"},
		{"-duration", "0s"},
		{"-rows", "0"},
		{"-rounds", "0"},
		{"-rounds", "21"},
		{"-apache-jit", "c2"},
		{"extra"},
	} {
		if _, err := parseConfig(args, io.Discard, noEnv); err == nil {
			t.Errorf("parseConfig(%q): no error", args)
		}
	}
	if _, err := parseConfig([]string{"-api", "http://localhost:8080/", "-api-pid", "12"}, io.Discard, noEnv); err != nil {
		t.Errorf("-api on localhost: %v", err)
	}
}

func TestParseConfigScaleOut(t *testing.T) {
	c, err := parseConfig(nil, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.apis != 1 || c.workers != 1 {
		t.Errorf("defaults: -apis %d -workers %d, want 1 and 1", c.apis, c.workers)
	}
	for _, p := range allPhases {
		if !c.phases.has(p) {
			t.Errorf("default phases lack %s", p)
		}
	}
	c, err = parseConfig([]string{"-apis", "2", "-workers", "3", "-phases", "create,floor", "-levels", "64"}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.apis != 2 || c.workers != 3 || !c.phases.has(selCreate) || !c.phases.has(selFloor) ||
		c.phases.has(selREST) || c.phases.lookups() || !slices.Equal(c.levels, []int{64}) {
		t.Errorf("got -apis %d -workers %d phases %v levels %v", c.apis, c.workers, c.phases, c.levels)
	}
	for _, args := range [][]string{
		{"-apis", "0"},
		{"-apis", "17"},
		{"-workers", "0"},
		{"-workers", "-1"},
		{"-phases", "create,bogus"},
		{"-phases", ","},
		{"-api", "http://127.0.0.1:8080", "-apis", "2"},
		{"-api", "http://127.0.0.1:8080", "-workers", "2"},
	} {
		if _, err := parseConfig(args, io.Discard, noEnv); err == nil {
			t.Errorf("parseConfig(%q): no error", args)
		}
	}
}

func TestParsePhases(t *testing.T) {
	p, err := parsePhases(" Create , select")
	if err != nil {
		t.Fatal(err)
	}
	if !p.has(selCreate) || !p.has(selSelect) || p.has(selFloor) || p.has(selLookup) || !p.lookups() {
		t.Errorf("parsePhases = %v", p)
	}
	p, err = parsePhases("all")
	if err != nil || len(p) != len(allPhases) {
		t.Errorf("parsePhases(all) = %v, %v", p, err)
	}
	if p, err := parsePhases("floor"); err != nil || p.lookups() {
		t.Errorf("parsePhases(floor) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "creat", "create,,lookups"} {
		if _, err := parsePhases(bad); err == nil {
			t.Errorf("parsePhases(%q): no error", bad)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	one := roundRobin([]string{"http://127.0.0.1:1"}, "/graphql")
	for range 3 {
		if got := one(); got != "http://127.0.0.1:1/graphql" {
			t.Fatalf("one base: %s", got)
		}
	}
	next := roundRobin([]string{"http://a", "http://b", "http://c"}, "/orders")
	if got := []string{next(), next(), next(), next()}; !slices.Equal(got, []string{"http://a/orders", "http://b/orders", "http://c/orders", "http://a/orders"}) {
		t.Errorf("sequence %v", got)
	}
	// Concurrent callers: each base gets its exact share.
	next = roundRobin([]string{"x", "y"}, "")
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				u := next()
				mu.Lock()
				count[u]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if count["x"] != 4000 || count["y"] != 4000 {
		t.Errorf("shares %v, want 4000 each", count)
	}
}

// TestGraphQLCreateSpreadsOverAPIs runs the create load against two fake
// API instances: both get half the requests.
func TestGraphQLCreateSpreadsOverAPIs(t *testing.T) {
	var hits [2]atomic.Int64
	var bases []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, `{"data":{"createOrder":{"created":true,"order":{"id":"1","status":"DONE","eventId":0,"total":"1.00"}}}}`)
		}))
		t.Cleanup(srv.Close)
		bases = append(bases, srv.URL)
	}
	client := newHTTPClient(4, len(bases))
	defer client.CloseIdleConnections()
	op := graphqlCreate(bases, client, newOrderGen())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		if code := op(context.Background(), 0, rng); code != "" {
			t.Fatalf("op: %s", code)
		}
	}
	if hits[0].Load() != 5 || hits[1].Load() != 5 {
		t.Errorf("hits %d and %d, want 5 and 5", hits[0].Load(), hits[1].Load())
	}
}

func TestSampleCPUSumsEachKind(t *testing.T) {
	// Burn some CPU so that this process has used more than a tick.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	self := os.Getpid()
	s := sampleCPU([]watched{
		{name: "one", pid: self},
		{name: "two", pid: self}, {name: "two", pid: self},
		{name: "partial", pid: self}, {name: "partial", pid: -1}, // unreadable
	})
	one, ok1 := s.procs["one"]
	two, ok2 := s.procs["two"]
	if !ok1 || !ok2 || one <= 0 {
		t.Fatalf("procs = %v", s.procs)
	}
	// Read a moment apart: two is about twice one, never less.
	if two < 2*one || two > 2*one+0.5 {
		t.Errorf("two processes sum to %.2f, one is %.2f", two, one)
	}
	if _, ok := s.procs["partial"]; ok {
		t.Errorf("a kind with an unreadable process is reported: %v", s.procs["partial"])
	}
}

func TestReplyPartition(t *testing.T) {
	// FNV-1a of the INSTANCE_ID modulo the partitions
	// (kafka.ReplyPartitionFor, as the requester computes it): the two
	// default bench instances read different partitions of the 8.
	if a, b := kafka.ReplyPartitionFor(instanceID(0), 8), kafka.ReplyPartitionFor(instanceID(1), 8); a != 6 || b != 3 {
		t.Errorf("bench-api-1 → %d, bench-api-2 → %d; want 6 and 3", a, b)
	}
	if instanceID(0) != "bench-api-1" || numbered("API", 1, 2) != "API 2" || numbered("worker", 0, 1) != "worker" {
		t.Error("names")
	}
}

func TestScaleNote(t *testing.T) {
	cfg := config{apis: 2, workers: 2}
	note := scaleNote(cfg, "g", "orders", "order-acks", groupState{ordersPartitions: 8, acksPartitions: 8,
		assignments: [][]int32{{0, 1, 2, 3}, {4, 5, 6, 7}}})
	for _, want := range []string{"2 API instance(s) and 2 worker(s)", "bench-api-1 → 6", "bench-api-2 → 3", "[0 1 2 3] [4 5 6 7]", "consumer group g"} {
		if !strings.Contains(note, want) {
			t.Errorf("note lacks %q: %s", want, note)
		}
	}
	if strings.Contains(note, "SHARE") {
		t.Errorf("distinct ACK partitions reported as shared: %s", note)
	}
	shared := scaleNote(config{apis: 2, workers: 1}, "g", "orders", "order-acks", groupState{ordersPartitions: 1, acksPartitions: 1, assignments: [][]int32{{0}}})
	if !strings.Contains(shared, "SHARE") || strings.Contains(shared, "consumer group") {
		t.Errorf("one ACK partition, one worker: %s", shared)
	}
}

func TestReportLabels(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{procLabel("API", 1), "API"},
		{procLabel("API", 2), "API ×2"},
		{fmtRSS("API", []int64{46 << 20}), "API 46 MiB"},
		{fmtRSS("worker", []int64{26 << 20, 25 << 20}), "worker 26 / 25 MiB"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestCheckLoopbackHost(t *testing.T) {
	for _, ok := range []string{"127.0.0.1", "localhost", "::1", "/var/run/postgresql"} {
		if err := checkLoopbackHost(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1", "db.example.com", ""} {
		if err := checkLoopbackHost(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOrderGen(t *testing.T) {
	g := newOrderGen()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for range 200 {
		o := g.next(rng)
		if seen[o.externalID] {
			t.Fatalf("external id %s twice", o.externalID)
		}
		seen[o.externalID] = true
		if len(o.items) < 1 || len(o.items) > 3 {
			t.Fatalf("%d items", len(o.items))
		}
		var sum int64
		for _, it := range o.apiItems() {
			if !strings.Contains(it.Price, ".") || len(it.Price) < 4 || it.Price[len(it.Price)-3] != '.' {
				t.Fatalf("price %q is not a two-decimal string", it.Price)
			}
		}
		for _, it := range o.items {
			sum += int64(it.quantity) * it.cents
		}
		if o.total() != sum {
			t.Fatalf("total %d, want %d", o.total(), sum)
		}
	}
	o := genOrder{items: []genItem{{name: "A", quantity: 2, cents: 2999}}}
	if got := string(o.storedItems()); got != `[{"name":"A","quantity":2,"price":29.99}]` {
		t.Errorf("storedItems = %s", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{formatCents(0), "0.00"},
		{formatCents(5), "0.05"},
		{formatCents(2999), "29.99"},
		{formatCents(-150), "-1.50"},
		{fmtDur(412 * time.Microsecond), "0.41 ms"},
		{fmtDur(41200 * time.Microsecond), "41.2 ms"},
		{fmtDur(1234 * time.Millisecond), "1234 ms"},
		{fmtDur(0), "–"},
		{fmtRate(4.567), "4.57"},
		{fmtRate(45.67), "45.7"},
		{fmtRate(12345.6), "12,346"},
		{thousands(1_000_000), "1,000,000"},
		{thousands(999), "999"},
		{thousands(-1234), "-1,234"},
		{fmtErrors(map[string]int{}), "0"},
		{fmtErrors(map[string]int{"TRANSPORT": 2, "ACK_TIMEOUT": 3}), "5 (ACK_TIMEOUT 3, TRANSPORT 2)"},
		{fmtRatio(0.4251, "floor"), "0.43× floor"},
		{shellQuote("-levels"), "-levels"},
		{shellQuote("1,16"), "1,16"},
		{shellQuote("a b"), "'a b'"},
		{shellQuote("it's"), `'it'\''s'`},
		// printf bench-user-0 | md5sum; that SQL's md5(…)::uuid agrees is
		// checked at run time, after seeding.
		{md5UUID("bench-user-0"), "dcd189a1-dd15-54b4-2f1e-f7de4370fae5"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://postgres@127.0.0.1:5432/orderstream?sslmode=disable", "floor")
	if err != nil || got != "postgres://postgres@127.0.0.1:5432/floor?sslmode=disable" {
		t.Errorf("withDatabase = %q, %v", got, err)
	}
	if _, err := withDatabase("host=127.0.0.1 dbname=x", "floor"); err == nil {
		t.Error("withDatabase of a keyword/value string: no error")
	}
}

// TestDesignRatios checks the *vs seed design* column: OrderStream's create
// phases against the seed design at the same level, the seed design against
// the floor.
func TestDesignRatios(t *testing.T) {
	res := func(phase string, level, ok int) *phaseResult {
		return &phaseResult{phase: phase, level: level, res: loadResult{window: time.Second, ok: ok}}
	}
	gql1, seed1, floor1 := res(phaseGraphQLCreate, 1, 50), res(phaseSeed, 1, 100), res(phaseFloor, 1, 200)
	gql16, rest16, seed16 := res(phaseGraphQLCreate, 16, 300), res(phaseREST, 16, 150), res(phaseSeed, 16, 200)
	lonely := res(phaseGraphQLCreate, 64, 10) // no seed design at 64
	b := &bench{results: []*phaseResult{gql1, seed1, floor1, gql16, rest16, seed16, lonely}}
	b.computeRatios()
	for _, tt := range []struct {
		name string
		got  string
		want string
	}{
		{"GraphQL at 1", fmtDesignRatio(gql1), "0.50×"},
		{"GraphQL at 16", fmtDesignRatio(gql16), "1.50×"},
		{"REST at 16", fmtDesignRatio(rest16), "0.75×"},
		{"seed design", fmtDesignRatio(seed1), "baseline"},
		{"floor", fmtDesignRatio(floor1), "–"},
		{"no seed design at the level", fmtDesignRatio(lonely), "–"},
		{"seed design vs floor", fmtRatio(seed1.ratio, seed1.baseline), "0.50× floor"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// noEnv is an empty environment for parseConfig.
func noEnv(string) string { return "" }

func TestParseConfigKafkaKind(t *testing.T) {
	c, err := parseConfig(nil, io.Discard, noEnv)
	if err != nil || c.kafkaKind != devstack.KindKfake {
		t.Errorf("default: %q, %v; want kfake", c.kafkaKind, err)
	}
	env := func(k string) string {
		if k == "KAFKA_KIND" {
			return "apache"
		}
		return ""
	}
	if c, err := parseConfig(nil, io.Discard, env); err != nil || c.kafkaKind != devstack.KindApache {
		t.Errorf("KAFKA_KIND=apache: %q, %v", c.kafkaKind, err)
	}
	if c, err := parseConfig([]string{"-kafka", "kfake"}, io.Discard, env); err != nil || c.kafkaKind != devstack.KindKfake {
		t.Errorf("-kafka kfake over KAFKA_KIND=apache: %q, %v", c.kafkaKind, err)
	}
	for _, bad := range []string{"apache3", "external", ""} {
		if _, err := parseConfig([]string{"-kafka", bad}, io.Discard, noEnv); err == nil {
			t.Errorf("-kafka %q: no error", bad)
		}
	}
}

func TestChartPath(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 4, 5, 0, time.UTC)
	for _, tt := range []struct{ flag, out, want string }{
		{"", "docs/bench.md", "docs/bench.svg"},
		{"", "/tmp/report", "/tmp/report.svg"},
		{"x.svg", "docs/bench.md", "x.svg"},
		{"off", "docs/bench.md", ""},
		{"", "", filepath.Join(os.TempDir(), "orderstream-bench-20261202-130405.svg")},
	} {
		if got := chartPath(tt.flag, tt.out, now); got != tt.want {
			t.Errorf("chartPath(%q, %q) = %q, want %q", tt.flag, tt.out, got, tt.want)
		}
	}
}

func TestRoundRatios(t *testing.T) {
	res := func(phase string, level, round, ok int) *phaseResult {
		return &phaseResult{phase: phase, level: level, round: round, res: loadResult{window: time.Second, ok: ok}}
	}
	// Two rounds at 64: each create is compared with the seed design and
	// the floor of its own round, and so is REST at its level.
	gql1, seed1, floor1 := res(phaseGraphQLCreate, 64, 1, 300), res(phaseSeed, 64, 1, 100), res(phaseFloor, 64, 1, 600)
	gql2, seed2, floor2 := res(phaseGraphQLCreate, 64, 2, 300), res(phaseSeed, 64, 2, 200), res(phaseFloor, 64, 2, 1200)
	rest := res(phaseREST, 64, 2, 100)
	grown := res(phaseGrown, 64, 0, 600)
	b := &bench{cfg: config{rounds: 2}, results: []*phaseResult{gql1, seed1, floor1, gql2, seed2, floor2, rest, grown}}
	b.computeRatios()
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"round 1 vs its seed design", gql1.vsDesign, 3},
		{"round 2 vs its seed design", gql2.vsDesign, 1.5},
		{"round 1 vs its floor", gql1.ratio, 0.5},
		{"round 2 vs its floor", gql2.ratio, 0.25},
		{"REST vs its round's seed design", rest.vsDesign, 0.5},
		{"REST vs its round's floor", rest.ratio, 100.0 / 1200},
		{"grown vs the median of the creates", grown.ratio, 2},
	} {
		if math.Abs(tt.got-tt.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := b.phaseName(gql2); got != "GraphQL createOrder (round 2)" {
		t.Errorf("phaseName(round 2) = %q", got)
	}
	if got := b.phaseName(rest); got != phaseREST+" (round 2)" {
		t.Errorf("phaseName(REST) = %q", got)
	}
	b.cfg.rounds = 1
	if got := b.phaseName(gql1); got != phaseGraphQLCreate {
		t.Errorf("phaseName with one round = %q", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{2}, 2},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if !slices.Equal(in, []float64{3, 1, 2}) {
		t.Errorf("median reordered its input: %v", in)
	}
	if got, want := fmtMedian([]float64{1.61, 2.13, 1.96}, "%.2f×"), "**1.96×** (1.61×, 2.13×, 1.96×)"; got != want {
		t.Errorf("fmtMedian = %q, want %q", got, want)
	}
	if got := fmtMedian([]float64{1.5}, "%.2f×"); got != "1.50×" {
		t.Errorf("fmtMedian of one = %q", got)
	}
	if got := fmtMedian(nil, "%.2f×"); got != "–" {
		t.Errorf("fmtMedian of none = %q", got)
	}
}

func TestReportDesignSummaryRounds(t *testing.T) {
	ms := time.Millisecond
	res := func(phase string, round, ok int, lat []time.Duration, procs map[string]float64) *phaseResult {
		return &phaseResult{phase: phase, level: 64, round: round,
			res: loadResult{window: time.Second, ok: ok, lat: lat},
			cpu: &cpuDelta{procs: procs}}
	}
	var results []*phaseResult
	// Three rounds: ours 2×, 1×, 3× the seed design's throughput; the CPU
	// per order of all processes 0.5×, 1×, 0.25× the seed design's (10 ms);
	// the PostgreSQL CPU per order 1×, 0.5×, 2× the floor's (1 ms).
	for i, x := range []struct {
		ours, seed int
		oursPG     float64
		oursCPU    float64
	}{{200, 100, 0.2, 1.0}, {100, 100, 0.05, 1.0}, {300, 100, 0.6, 0.75}} {
		round := i + 1
		results = append(results,
			res(phaseGraphQLCreate, round, x.ours, []time.Duration{2 * ms, 4 * ms, 50 * ms}, map[string]float64{procAPI: x.oursCPU - x.oursPG, procPostgres: x.oursPG}),
			res(phaseSeed, round, x.seed, []time.Duration{1 * ms, 2 * ms, 100 * ms}, map[string]float64{procSeed: 0.01 * float64(x.seed)}),
			res(phaseFloor, round, 1000, []time.Duration{ms}, map[string]float64{procPostgres: 1}),
		)
	}
	b := &bench{cfg: config{rounds: 3}, results: results}
	b.computeRatios()
	var w strings.Builder
	b.reportDesignSummary(&w)
	got := w.String()
	for _, want := range []string{
		"in 3 rounds",
		"| 64 | **2.00×** (2.00×, 1.00×, 3.00×) | **2.00×** (2.00×, 2.00×, 2.00×) | **50.0 ms** (50.0 ms, 50.0 ms, 50.0 ms) | **0.50×** (0.50×, 1.00×, 0.25×) | **1.00×** (1.00×, 0.50×, 2.00×) |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

func TestFailedPhases(t *testing.T) {
	ok := &phaseResult{phase: phaseLookup, level: 16, res: loadResult{window: time.Second, ok: 10, errors: map[string]int{"TIMEOUT": 1}}}
	broken := &phaseResult{phase: phasePostGraphile, level: 16, rows: 10_000, res: loadResult{window: time.Second, errors: map[string]int{"GRAPHQL_ERROR": 25}}}
	interrupted := &phaseResult{phase: phaseFloor, level: 64, res: loadResult{window: time.Second, errors: map[string]int{"TRANSPORT": 3}, interrupted: true}}
	b := &bench{cfg: config{rounds: 1}, st: &stack{}, results: []*phaseResult{ok, interrupted}}
	if err := b.failedPhases(); err != nil {
		t.Errorf("failedPhases without a failed phase: %v", err)
	}
	b.results = append(b.results, broken)
	err := b.failedPhases()
	if err == nil || !strings.Contains(err.Error(), "PostGraphile 4 allOrders(condition), 10,000 rows at 16 (25 (GRAPHQL_ERROR 25))") {
		t.Errorf("failedPhases = %v", err)
	}
	if r := b.report(nil); !strings.Contains(r, "**FAILED: every operation failed in") {
		t.Errorf("the report does not say the run failed:\n%s", r)
	}
}

func TestLookupSummaryRounds(t *testing.T) {
	ms := time.Millisecond
	res := func(phase string, rows int64, round, ok int) *phaseResult {
		return &phaseResult{phase: phase, level: 16, rows: rows, round: round,
			res: loadResult{window: time.Second, ok: ok, lat: []time.Duration{ms, 2 * ms}}}
	}
	var results []*phaseResult
	// Against PostGraphile: 2× then 3× on the small table, 2.5× then 1.5×
	// on the big one; each against its own round's PostGraphile.
	for _, x := range []struct {
		rows                int64
		round, ours, theirs int
	}{{10_000, 1, 2000, 1000}, {10_000, 2, 3000, 1000}, {1_000_000, 1, 2500, 1000}, {1_000_000, 2, 1500, 1000}} {
		results = append(results, res(phaseLookup, x.rows, x.round, x.ours), res(phasePostGraphile, x.rows, x.round, x.theirs),
			res(phasePointSelect, x.rows, x.round, 10*x.ours))
	}
	b := &bench{cfg: config{rounds: 2, lookupLevel: 16}, results: results}
	b.computeRatios()
	var w strings.Builder
	b.reportLookupSummary(&w)
	got := w.String()
	for _, want := range []string{
		"16 in flight, in 2 rounds (the median, then each round): 10,000 rows **2.50×** (2.00×, 3.00×) (2,500 against 1,000 ops/s;",
		"1,000,000 rows **2.00×** (2.50×, 1.50×) (2,000 against 1,000 ops/s;",
		"big/small throughput 0.80×",
		"against the pgx select on the same table, measured right after each (robust to a machine that got busier in between): 0.10× on the small table, 0.10× on the big one",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

func TestGrownAgainstTheMedianRound(t *testing.T) {
	ms := time.Millisecond
	res := func(phase string, round, ok int, p99 time.Duration) *phaseResult {
		return &phaseResult{phase: phase, level: 64, round: round, rows: map[bool]int64{true: 1_000_000}[phase == phaseGrown],
			res: loadResult{window: time.Second, ok: ok, lat: []time.Duration{p99}}}
	}
	// The last round of the small tables was the slow one: against it the
	// grown tables would look 3× as fast; against the median, 1.5×.
	grown := res(phaseGrown, 0, 1500, 50*ms)
	b := &bench{cfg: config{rounds: 3}, results: []*phaseResult{
		res(phaseGraphQLCreate, 1, 1000, 60*ms), res(phaseGraphQLCreate, 2, 2000, 40*ms), res(phaseGraphQLCreate, 3, 500, 200*ms), grown}}
	b.computeRatios()
	if grown.ratio != 1.5 {
		t.Errorf("grown ratio %v, want 1.5 (against the median round)", grown.ratio)
	}
	var w strings.Builder
	b.reportGrownSummary(&w)
	if want := "against 1,000 ops/s, p99 60.0 ms on the small tables (the medians of 3 rounds): 1.50× the throughput"; !strings.Contains(w.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, w.String())
	}
}
