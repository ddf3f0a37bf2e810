package graph

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestByteLRU(t *testing.T) {
	ctx := context.Background()
	c := newByteLRU(1000, func(_ string, v string) int { return len(v) })
	c.Add(ctx, "a", strings.Repeat("a", 400))
	c.Add(ctx, "b", strings.Repeat("b", 400))
	if _, ok := c.Get(ctx, "a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.Add(ctx, "c", strings.Repeat("c", 400)) // 1200 bytes: b goes
	if _, ok := c.Get(ctx, "b"); ok {
		t.Error("b kept; want it evicted as the least recently used")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(ctx, k); !ok {
			t.Errorf("%s evicted; want it kept", k)
		}
	}
	if got := c.Bytes(); got != 800 {
		t.Errorf("got %d bytes; want 800", got)
	}
	c.Add(ctx, "huge", strings.Repeat("h", 1001)) // larger than the cache: not kept, evicts nothing
	if _, ok := c.Get(ctx, "huge"); ok || c.Len() != 2 {
		t.Errorf("an entry over the budget: kept %v, %d entries; want not kept, 2 entries", ok, c.Len())
	}
	c.Add(ctx, "a", "short") // replaced: its old size is given back
	if got := c.Bytes(); got != 405 {
		t.Errorf("after replacing a: got %d bytes; want 405", got)
	}
}

// TestByteLRUHoldsItsBudget fills a 4 MiB query cache with distinct large
// documents (as an attacker's unique comments make them) and checks the
// heap they hold stays near the budget.
func TestByteLRUHoldsItsBudget(t *testing.T) {
	const budget = 4 << 20
	ctx := context.Background()
	c := newByteLRU(budget, docSize)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 200 {
		q := fmt.Sprintf("# %d\n{%s }", i, strings.Repeat(" a: __typename", 2000))
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatal(err)
		}
		c.Add(ctx, q, doc)
	}
	held := heap() - before
	t.Logf("%d entries, %d bytes estimated, %d bytes of heap", c.Len(), c.Bytes(), held)
	if c.Bytes() > budget {
		t.Errorf("estimated %d bytes; want at most %d", c.Bytes(), budget)
	}
	if held > 2*budget {
		t.Errorf("the cache holds %d bytes of heap; want at most twice its budget of %d", held, budget)
	}
}

// TestDocSizeEstimate compares docSize with the heap a parsed document
// holds: within a factor of two either way.
func TestDocSizeEstimate(t *testing.T) {
	var err error
	for name, q := range map[string]string{
		"Typename2000":  "{" + strings.Repeat(" __typename", 2000) + " }",
		"Aliases2000":   "{" + strings.Repeat(" alias: __typename", 2000) + " }",
		"Arguments":     "{" + strings.Repeat(` o: orderByExternalId(externalId: "x", userId: "u") { id items { name } }`, 300) + " }",
		"Introspection": standardIntrospection(9),
		"Values":        `mutation { createOrder(input: {externalId: "x", userId: "u", items: [` + strings.Repeat(`{name: "A", quantity: 1, price: "1.00"} `, 500) + `]}) { created } }`,
	} {
		t.Run(name, func(t *testing.T) {
			const n = 20
			var m0, m1 runtime.MemStats
			docs := make([]*ast.QueryDocument, n)
			srcs := make([]string, n)
			for i := range srcs {
				srcs[i] = fmt.Sprintf("# %d\n%s", i, q)
			}
			runtime.GC()
			runtime.ReadMemStats(&m0)
			for i := range docs {
				docs[i], err = parser.ParseQuery(&ast.Source{Input: srcs[i]})
				if err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			heap := float64(m1.HeapAlloc-m0.HeapAlloc)/n + float64(len(srcs[0])) // the key is held too
			est := float64(docSize(srcs[0], docs[0]))
			runtime.KeepAlive(docs)
			t.Logf("estimated %.0f bytes, heap %.0f bytes (ratio %.2f)", est, heap, est/heap)
			if est < heap/2 || est > heap*2 {
				t.Errorf("estimated %.0f bytes; the heap holds %.0f", est, heap)
			}
		})
	}
}
