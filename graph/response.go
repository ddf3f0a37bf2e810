package graph

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeResponseTooLarge is the code of a request whose response would be
// larger than Options.MaxResponseBytes.
const CodeResponseTooLarge = "RESPONSE_TOO_LARGE"

// responseLimit bounds the size of each response (each event of a
// subscription too) while it is built: every resolved field adds the JSON
// bytes it will take (its name, its value's text, punctuation) to the
// response's budget, and once the budget is spent every further field
// resolves to null without running its resolver, so the rest of the
// response is never built. The response is then replaced by one error,
// RESPONSE_TOO_LARGE, without data.
//
// The count is an estimate within a few bytes a field (escapes in strings
// count as the worst case, 6 bytes a character), and counts null fields
// that null propagation later removes: it errs towards refusing.
type responseLimit struct{ max int64 }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
	graphql.FieldInterceptor
} = responseLimit{}

func (responseLimit) ExtensionName() string                          { return "OrderStreamResponseLimit" }
func (responseLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

type budgetKey struct{}

// budget is what is left of one response's bytes; below zero, it is spent.
type budget struct{ left atomic.Int64 }

func (l responseLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	b := &budget{}
	b.left.Store(l.max)
	resp := next(context.WithValue(ctx, budgetKey{}, b))
	if resp != nil && b.left.Load() < 0 {
		return &graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("the response would be larger than %d bytes; select fewer fields or smaller pages", l.max),
			Extensions: map[string]any{"code": CodeResponseTooLarge},
		}}}
	}
	return resp
}

// prepaidKey holds, in the context a list field resolves its items in,
// whether the whole list was charged already (an *atomic.Bool).
type prepaidKey struct{}

func (responseLimit) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	if b == nil {
		return next(ctx)
	}
	if p, _ := ctx.Value(prepaidKey{}).(*atomic.Bool); p != nil && p.Load() {
		return next(ctx)
	}
	if b.left.Load() < 0 {
		return graphql.Null, nil // spent: gqlgen takes a Marshaler as the field's value
	}
	fc := graphql.GetFieldContext(ctx)
	n := int64(4) // "": and a comma
	if fc == nil {
		res, err := next(ctx)
		return res, err
	}
	n += int64(len(fc.Field.Alias))
	if d := fc.Field.Definition; d == nil || d.Type.Elem == nil {
		res, err := next(ctx)
		if b.left.Add(-(n + valueSize(res))) < 0 {
			return graphql.Null, nil
		}
		return res, err
	}
	// A list: its items resolve, after this returns, in the context given
	// to next. Charging the whole list here, from the values it holds,
	// refuses a list too large before any of its items is built.
	prepaid := new(atomic.Bool)
	res, err := next(context.WithValue(ctx, prepaidKey{}, prepaid))
	if size, ok := estimate(reflect.ValueOf(res), fc.Field.Selections, b.left.Load()); ok {
		prepaid.Store(true)
		n += size
	} else {
		n += valueSize(res)
	}
	if b.left.Add(-n) < 0 {
		return graphql.Null, nil
	}
	return res, err
}

// estimate is the JSON size of v with the fields sel selects, read from
// the model structs by their json tags (which gqlgen generates from the
// GraphQL names); it stops once over limit. ok is false when a selected
// field is not a struct field (it has a resolver, so its size is unknown
// here); the items are then charged one field at a time.
func estimate(v reflect.Value, sel ast.SelectionSet, limit int64) (n int64, ok bool) {
	switch v.Kind() {
	case reflect.Invalid:
		return 4, true
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 4, true
		}
		return estimate(v.Elem(), sel, limit)
	case reflect.Slice:
		n = 2 + int64(v.Len())
		for i := 0; i < v.Len() && n <= limit; i++ {
			m, ok := estimate(v.Index(i), sel, limit-n)
			if !ok {
				return 0, false
			}
			n += m
		}
		return n, true
	case reflect.Struct:
		if len(sel) == 0 {
			return valueSize(v.Interface()), true
		}
		n = 2
		ok = true
		forFields(sel, func(f *ast.Field) {
			if !ok || n > limit {
				return
			}
			key := f.Alias
			if key == "" {
				key = f.Name
			}
			n += int64(len(key)) + 4
			if f.Name == "__typename" {
				n += 2 + int64(len(v.Type().Name()))
				return
			}
			i, found := jsonFields(v.Type())[f.Name]
			if !found {
				ok = false
				return
			}
			m, fok := estimate(v.Field(i), f.SelectionSet, limit-n)
			ok = fok
			n += m
		})
		return n, ok
	case reflect.String:
		return int64(stringJSONSize(v.String())), true
	case reflect.Bool:
		return 5, true
	}
	return valueSize(v.Interface()), true
}

// forFields calls f for each field sel selects, through inline fragments
// and fragment spreads (the schema has no abstract types).
func forFields(sel ast.SelectionSet, f func(*ast.Field)) {
	for _, s := range sel {
		switch x := s.(type) {
		case *ast.Field:
			f(x)
		case *ast.InlineFragment:
			forFields(x.SelectionSet, f)
		case *ast.FragmentSpread:
			if x.Definition != nil {
				forFields(x.Definition.SelectionSet, f)
			}
		}
	}
}

var fieldIndex sync.Map // reflect.Type → map[string]int

// jsonFields maps the json names of t's fields to their index.
func jsonFields(t reflect.Type) map[string]int {
	if m, ok := fieldIndex.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	fieldIndex.Store(t, m)
	return m
}

// valueSize is the JSON size of a resolved value, as gqlgen marshals it.
// Objects and lists count their punctuation here and their fields as they
// resolve.
func valueSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 4
	case string:
		return int64(stringJSONSize(x))
	case *string:
		if x == nil {
			return 4
		}
		return int64(stringJSONSize(*x))
	case bool:
		return 5
	case int:
		return digits(int64(x))
	case int64:
		return digits(x)
	case int32:
		return digits(int64(x))
	case time.Time:
		var buf [64]byte
		return 2 + int64(len(x.AppendFormat(buf[:0], time.RFC3339Nano)))
	case fmt.Stringer:
		return 2 + int64(len(x.String())) // enums, Decimal: quoted strings
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		return 2 + int64(rv.Len()) // [ , , ]
	}
	return 2 // an object's braces
}

func digits(n int64) int64 {
	var buf [24]byte
	return int64(len(strconv.AppendInt(buf[:0], n, 10)))
}

// stringJSONSize is the size of s as a JSON string: quotes, and each
// character that needs escaping as 6 bytes (\u003c), the most it can take.
func stringJSONSize(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			n += 5
		}
	}
	return n
}
