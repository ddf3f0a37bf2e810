package graph

import (
	"container/list"
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// byteLRU is a least-recently-used cache bounded by the bytes its entries
// hold, not by their number: gqlgen's lru counts entries, and a parsed
// document of a large query holds about 1 MB, so 1000 of them were 1 GB.
// An entry larger than the whole budget is not kept.
type byteLRU[T any] struct {
	size func(key string, v T) int

	mu    sync.Mutex
	max   int
	used  int
	order *list.List // of *lruEntry[T], most recent first
	items map[string]*list.Element
}

type lruEntry[T any] struct {
	key  string
	v    T
	size int
}

var (
	_ graphql.Cache[*ast.QueryDocument] = (*byteLRU[*ast.QueryDocument])(nil)
	_ graphql.Cache[string]             = (*byteLRU[string])(nil)
)

func newByteLRU[T any](maxBytes int, size func(key string, v T) int) *byteLRU[T] {
	return &byteLRU[T]{size: size, max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns the entry of key and marks it recently used.
func (c *byteLRU[T]) Get(_ context.Context, key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[T]).v, true
	}
	var zero T
	return zero, false
}

// Add stores v under key, evicting the least recently used entries until
// the cache holds at most its budget.
func (c *byteLRU[T]) Add(_ context.Context, key string, v T) {
	n := c.size(key, v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if n > c.max {
		return
	}
	for c.used+n > c.max {
		c.remove(c.order.Back())
	}
	c.items[key] = c.order.PushFront(&lruEntry[T]{key: key, v: v, size: n})
	c.used += n
}

func (c *byteLRU[T]) remove(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry[T])
	delete(c.items, e.key)
	c.used -= e.size
}

// Len and Bytes report what the cache holds.
func (c *byteLRU[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *byteLRU[T]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// entryOverhead is what an entry costs besides its key and value: the map
// slot, the list element and the entry.
const entryOverhead = 160

// stringSize is the size of an APQ entry: its hash and its query.
func stringSize(key, v string) int { return entryOverhead + len(key) + len(v) }

// docSize estimates the heap a parsed document holds: its key (the query
// text, which the AST's positions also reference) and its nodes, at the
// sizes gqlparser's structs have on 64-bit machines plus their slices'
// share (TestDocSizeEstimate checks the estimate against the heap).
func docSize(key string, doc *ast.QueryDocument) int {
	n := entryOverhead + len(key)
	if doc == nil {
		return n
	}
	var dirs func(ast.DirectiveList)
	var value func(*ast.Value)
	value = func(v *ast.Value) {
		if v == nil {
			return
		}
		n += 240 + len(v.Raw) // Value and its Position
		for _, c := range v.Children {
			n += 64 + len(c.Name) // ChildValue
			value(c.Value)
		}
	}
	dirs = func(ds ast.DirectiveList) {
		for _, d := range ds {
			n += 200 + len(d.Name)
			for _, a := range d.Arguments {
				n += 140 + len(a.Name)
				value(a.Value)
			}
		}
	}
	var set func(ast.SelectionSet)
	set = func(s ast.SelectionSet) {
		for _, sel := range s {
			n += 16 // the interface in the slice
			switch x := sel.(type) {
			case *ast.Field:
				n += 300 // Field and its Position
				for _, a := range x.Arguments {
					n += 140
					value(a.Value)
				}
				dirs(x.Directives)
				set(x.SelectionSet)
			case *ast.InlineFragment:
				n += 200
				dirs(x.Directives)
				set(x.SelectionSet)
			case *ast.FragmentSpread:
				n += 200
				dirs(x.Directives)
			}
		}
	}
	for _, op := range doc.Operations {
		n += 300
		for _, v := range op.VariableDefinitions {
			n += 300
			value(v.DefaultValue)
			dirs(v.Directives)
		}
		dirs(op.Directives)
		set(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n += 300
		dirs(f.Directives)
		set(f.SelectionSet)
	}
	return n
}
