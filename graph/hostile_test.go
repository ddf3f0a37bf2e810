package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
)

// bigStore is an order.Store whose user has 100 orders of 1000 items, each
// with a name of 400 characters: a page of 100 orders with their item names
// is about 41 MB of JSON.
type bigStore struct {
	order.Store
	orders []order.Order
}

func newBigStore() bigStore {
	items := make([]order.Item, order.MaxItems)
	for i := range items {
		items[i] = order.Item{Name: fmt.Sprintf("%03d", i) + strings.Repeat("n", 397), Quantity: 1, Price: 100}
	}
	orders := make([]order.Order, order.MaxPageSize+1)
	created := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := range orders {
		orders[i] = order.Order{ID: int64(i + 1), ExternalID: fmt.Sprintf("o-%d", i), UserID: user, Status: order.StatusDone,
			Items: items, Total: 100 * order.MaxItems, CreatedAt: created, UpdatedAt: created}
	}
	return bigStore{orders: orders}
}

func (s bigStore) OrderByExternalID(_ context.Context, externalID, userID string) (order.Order, error) {
	return s.orders[0], nil
}

func (s bigStore) OrderByID(_ context.Context, id int64, userID string) (order.Order, error) {
	return s.orders[0], nil
}

func (s bigStore) ListOrders(_ context.Context, q order.ListQuery) ([]order.Order, error) {
	return s.orders[:min(q.Limit, len(s.orders))], nil
}

// hostileHandler is the GraphQL handler over bigStore, with introspection
// on (the development default) and the default limits.
func hostileHandler(tb testing.TB) http.Handler {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return graph.NewHandler(order.NewService(newBigStore(), nil, log), log, nil, graph.Options{Introspection: true})
}

type hostileCase struct {
	name  string
	query string
	// code is the expected extensions.code of the first error; "" means
	// the query is answered.
	code string
	// operation is the operationName sent, if any.
	operation string
}

// fragmentBomb is n fragments each spreading the next one twice: 2^n
// fields once expanded, from a document of about 40·n bytes.
func fragmentBomb(n int, on, leaf, root string) string {
	var b strings.Builder
	b.WriteString(root)
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on %s { ...F%d ...F%d }", i, on, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on %s { %s }", n, on, leaf)
	return b.String()
}

func repeat(n int, format string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " "+format, i)
	}
	b.WriteString(" }")
	return b.String()
}

// hostileCorpus is the hostile-query corpus of docs/SECURITY.md: each case
// is refused with its code, or answered within the budget.
func hostileCorpus() []hostileCase {
	lookup := `orderByExternalId(externalId: "o-1", userId: "` + user + `")`
	page := `orders(userId: "` + user + `", first: 100)`
	var cases []hostileCase
	for _, n := range []int{10, 20, 30, 40} {
		code := "COMPLEXITY_LIMIT_EXCEEDED" // 2^n over 400,000
		if n == 10 {
			code = "QUERY_TOO_LARGE" // 1024 fields
		}
		cases = append(cases, hostileCase{name: fmt.Sprintf("FragmentBomb%d", n),
			query: fragmentBomb(n, "Query", "__typename", "{ ...F0 }"), code: code})
	}
	cases = append(cases,
		hostileCase{"FragmentBombOrder30", fragmentBomb(30, "Order", "items { name }", "{ "+lookup+" { ...F0 } }"), "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"FragmentBombIntrospection30", fragmentBomb(30, "__Type", "name", `{ __type(name: "Order") { ...F0 } }`), "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"Fragments100Wide", repeat(100, "...F%d") + func() string {
			var b strings.Builder
			for i := range 100 {
				fmt.Fprintf(&b, " fragment F%d on Query { t%d: __typename }", i, i)
			}
			return b.String()
		}(), "", ""},
		hostileCase{"Aliases500Typename", repeat(500, "t%d: __typename"), "QUERY_TOO_LARGE", ""},
		hostileCase{"Aliases500Lookup", repeat(500, "o%d: "+lookup+" { id }"), "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"Aliases4900Typename", repeat(4900, "t%d: __typename"), "QUERY_TOO_LARGE", ""},
		hostileCase{"Typename1000", "{" + strings.Repeat(" __typename", 1000) + " }", "QUERY_TOO_LARGE", ""},
		hostileCase{"Typename8000", "{" + strings.Repeat(" __typename", 8000) + " }", "QUERY_TOO_LARGE", ""},
		hostileCase{"Typename14990", "{" + strings.Repeat(" __typename", 14990) + " }", "QUERY_TOO_LARGE", ""},
		hostileCase{"Tokens20000", "{" + strings.Repeat(" __typename", 20000) + " }", "GRAPHQL_PARSE_FAILED", ""},
		hostileCase{"Typename100InlineFragments", "{" + strings.Repeat(" ... on Query {"+strings.Repeat(" __typename", 100)+" }", 100) + " }", "QUERY_TOO_LARGE", ""},
		hostileCase{"NestedLists40", repeat(40, "p%d: "+page+" { edges { node { items { name } } } }"), "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"NestedListsFragments40", repeat(40, "p%d: "+page+" { ...E }") +
			" fragment E on OrderConnection { edges { node { ...I } } } fragment I on Order { items { name } }", "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"Response41MB", "{ " + page + " { edges { node { items { name } } } } }", "RESPONSE_TOO_LARGE", ""},
		hostileCase{"PageUnderCeiling", "{ " + strings.Replace(page, "100", "9", 1) + " { edges { node { items { name } } } } }", "", ""},
		hostileCase{"OnePage", "{ " + strings.Replace(page, "100", "5", 1) + " { edges { cursor node { id status items { name quantity price } } } pageInfo { hasNextPage endCursor } } }", "", ""},
		hostileCase{"DeepInlineFragments60", "{ __typename " + strings.Repeat("... on Query { ", 60) + "__typename" + strings.Repeat(" }", 60) + " }", "", ""},
		hostileCase{"DeepIntrospection50", `{ __type(name: "Order") {` + strings.Repeat(" ofType {", 50) + " name" + strings.Repeat(" }", 51) + " }", "QUERY_TOO_DEEP", ""},
		hostileCase{"IntrospectionCycle", `{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED", ""},
		hostileCase{"StandardIntrospection", graph.StandardIntrospection(9), "", ""},
		hostileCase{"RoverIntrospection", graph.StandardIntrospection(7), "", ""},
		hostileCase{"Operations1000", func() string {
			var b strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&b, "query Q%d { __typename } ", i)
			}
			return b.String()
		}(), "QUERY_TOO_LARGE", ""},
		hostileCase{"Operations50SharedFragment", func() string {
			var b strings.Builder
			for i := range 50 {
				fmt.Fprintf(&b, "query Q%d { ...F } ", i)
			}
			b.WriteString("fragment F on Query {")
			for i := range 190 {
				fmt.Fprintf(&b, " t%d: __typename", i)
			}
			return b.String() + " }"
		}(), "", "Q0"},
		hostileCase{"Operations1000Fragments", func() string {
			var b strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&b, "query Q%d { ...F0 } ", i)
			}
			for i := range 900 {
				fmt.Fprintf(&b, "fragment F%d on Query { ...F%d } ", i, i+1)
			}
			return b.String() + "fragment F900 on Query { __typename }"
		}(), "QUERY_TOO_LARGE", "Q0"},
		hostileCase{"Operations50Fragments199Chain", func() string {
			var b strings.Builder
			for i := range 50 {
				fmt.Fprintf(&b, "query Q%d { ...F0 } ", i)
			}
			for i := range 199 {
				fmt.Fprintf(&b, "fragment F%d on Query { ...F%d } ", i, i+1)
			}
			return b.String() + "fragment F199 on Query { __typename }"
		}(), "", "Q0"},
		hostileCase{"Fragments1900", func() string {
			var b strings.Builder
			b.WriteString("{ __typename }")
			for i := range 1900 {
				fmt.Fprintf(&b, " fragment F%d on Query { __typename }", i)
			}
			return b.String()
		}(), "QUERY_TOO_LARGE", ""},
		hostileCase{"Directives2000", "{ __typename" + strings.Repeat(" @include(if: true)", 2000) + " }", "GRAPHQL_VALIDATION_FAILED", ""},
		hostileCase{"Variables100", "query(" + func() string {
			var b strings.Builder
			for i := range 100 {
				fmt.Fprintf(&b, " $v%d: Int", i)
			}
			return b.String()
		}() + ") { __typename }", "GRAPHQL_VALIDATION_FAILED", ""},
		hostileCase{"Variables3700", "query(" + func() string {
			var b strings.Builder
			for i := range 3700 {
				fmt.Fprintf(&b, " $v%d: Int", i)
			}
			return b.String()
		}() + ") { __typename }", "QUERY_TOO_LARGE", ""},
		hostileCase{"IntrospectionSameName500", "{ __schema {" + strings.Repeat(" description", 499) + " } }", "", ""},
		hostileCase{"ListValue7000Deep", `{ orderByExternalId(externalId: "x", userId: ` + strings.Repeat("[", 7000) + strings.Repeat("]", 7000) + `) { id } }`, "GRAPHQL_PARSE_FAILED", ""},
		hostileCase{"String300KB", `{ orderByExternalId(externalId: "` + strings.Repeat("x", 300<<10) + `", userId: "` + user + `") { id } }`, "QUERY_TOO_LARGE", ""},
		hostileCase{"MixedBombAliases", repeat(100, "a%d: __typename") + strings.TrimPrefix(fragmentBomb(20, "Query", "__typename", ""), "") + " query B { ...F0 }", "QUERY_TOO_LARGE", ""},
	)
	return cases
}

// post sends query to h as a JSON POST and returns the first error's code
// ("" when there is none) and the size of the response.
func post(tb testing.TB, h http.Handler, query, operation string) (code string, size int) {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "operationName": operation})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := &headRecorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	// gqlgen writes the errors first; a long answer is cut in head.
	if !bytes.HasPrefix(rec.head, []byte(`{"errors"`)) {
		if !bytes.HasPrefix(rec.head, []byte(`{"data"`)) {
			tb.Fatalf("response %.200q: want errors or data", rec.head)
		}
		return "", rec.size
	}
	m := firstCode.FindSubmatch(rec.head)
	if m == nil {
		return "no code: " + string(rec.head[:min(len(rec.head), 200)]), rec.size
	}
	return string(m[1]), rec.size
}

var firstCode = regexp.MustCompile(`"code":"([A-Z_]+)"`)

// headRecorder is an http.ResponseWriter that keeps the first 64 KiB of
// the body and counts the rest, as a socket would take it: the allocation
// measured is the server's, not a test buffer's.
type headRecorder struct {
	header http.Header
	head   []byte
	size   int
}

func (r *headRecorder) Header() http.Header { return r.header }
func (r *headRecorder) WriteHeader(int)     {}
func (r *headRecorder) Write(b []byte) (int, error) {
	r.size += len(b)
	if keep := 64<<10 - len(r.head); keep > 0 {
		r.head = append(r.head, b[:min(keep, len(b))]...)
	}
	return len(b), nil
}

// raceEnabled is set under the race detector (race_test.go).
var raceEnabled bool

// unique makes each request a new document for the parsed-query cache, as
// an attacker's unique comment does.
var unique atomic.Int64

func fresh(query string) string {
	return fmt.Sprintf("# %d\n%s", unique.Add(1), query)
}

// cpuTime is the CPU time the process has used, user and system: recorded
// in the corpus table (not asserted: the machine is shared).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Budget of one request (docs/SECURITY.md): a refused one allocates at most
// maxAllocPerRequest; an answer at most that plus allocPerResponseByte for
// each byte it sends (the response ceiling bounds those). Allocation is
// asserted here; CPU is measured by BenchmarkHostileCorpus.
const (
	maxAllocPerRequest   = 8 << 20
	allocPerResponseByte = 12
)

// TestHostileCorpus replays the hostile corpus: each case gets its code,
// and no request allocates more than the budget.
func TestHostileCorpus(t *testing.T) {
	h := hostileHandler(t)
	var table strings.Builder
	fmt.Fprintf(&table, "| case | document bytes | answer | CPU | allocated | response bytes |\n|---|---:|---|---:|---:|---:|\n")
	for _, tc := range hostileCorpus() {
		t.Run(tc.name, func(t *testing.T) {
			post(t, h, fresh(tc.query), tc.operation) // warm up: lazily built state
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			code, size := post(t, h, fresh(tc.query), tc.operation)
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			if code != tc.code {
				t.Errorf("got code %q; want %q", code, tc.code)
			}
			budget := uint64(maxAllocPerRequest)
			if code == "" {
				budget += uint64(allocPerResponseByte * size)
			}
			if alloc > budget && !raceEnabled {
				t.Errorf("allocated %d bytes for a response of %d; want at most %d", alloc, size, budget)
			}
			answer := code
			if answer == "" {
				answer = "answered"
			}
			fmt.Fprintf(&table, "| %s | %d | %s | %.1f ms | %.2f MB | %d |\n", tc.name, len(tc.query), answer,
				float64(cpu)/float64(time.Millisecond), float64(alloc)/1e6, size)
		})
	}
	t.Logf("hostile corpus:\n%s", table.String())
	if out := os.Getenv("HOSTILE_TABLE"); out != "" {
		_ = os.WriteFile(out, []byte(table.String()), 0o644)
	}
}

// BenchmarkHostileCorpus measures the CPU time and allocation of one
// request of each hostile case (a new document each time, so the parsed-
// query cache never helps): go test -run '^$' -bench HostileCorpus ./graph/
func BenchmarkHostileCorpus(b *testing.B) {
	h := hostileHandler(b)
	for _, tc := range hostileCorpus() {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var code string
			for b.Loop() {
				code, _ = post(b, h, fresh(tc.query), tc.operation)
			}
			if code != tc.code {
				b.Errorf("got code %q; want %q", code, tc.code)
			}
		})
	}
}
