package main

import (
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as postgres backends have.
	stat := "4242 (postgres: postgres orderstream 127.0.0.1(5) idle) S 4200 4200 4200 0 -1 4194560 1200 0 0 0 " +
		"150 37 9 4 20 0 1 0 1234 215040000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	st, err := parseStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{ppid: 4200, utime: 150, stime: 37, cutime: 9, cstime: 4}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	if _, err := parseStat("12 (x) S 1"); err == nil {
		t.Error("parseStat of a short line: no error")
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
	c, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.levels, []int{1, 16, 64, 128}) || c.duration != 10*time.Second || c.rows != 1_000_000 || c.maxLevel() != 128 {
		t.Errorf("defaults: %+v", c)
	}
	for _, args := range [][]string{
		{"-api", "http://example.com:8080"},
		{"-api", "https://127.0.0.1:8080"},
		{"-api-pid", "12"},
		{"-duration", "0s"},
		{"-rows", "0"},
		{"extra"},
	} {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("parseConfig(%q): no error", args)
		}
	}
	if _, err := parseConfig([]string{"-api", "http://localhost:8080/", "-api-pid", "12"}, io.Discard); err != nil {
		t.Errorf("-api on localhost: %v", err)
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
