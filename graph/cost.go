package graph

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orderstream/orderstream/internal/order"
)

// The cost rules. This is their one home; docs/SECURITY.md repeats them.
//
// An operation is measured once, before validation, in one pass over the
// document that measures each fragment once and reuses that measure at each
// of its spreads: the pass is linear in the document, while what it reports
// is the size of the operation with every spread expanded (saturating at
// MaxInt), so a fragment bomb reports 2^n fields and is refused.
//
// Data fields (outside __schema and __type):
//   - depth: the deepest nesting of fields; inline fragments and spreads
//     add none ({ orderByExternalId { items { name } } } has depth 3).
//   - fields: the fields selected, aliases and repeats included.
//   - cost: an upper bound on the values the response can hold.
//     A leaf (scalar or enum) costs 1 and an object field 1 plus the cost
//     of its selections. A list field multiplies what it holds by the most
//     items it can return (listBounds): Order.items by order.MaxItems
//     (1000); Query.orders by its page size (first, clamped to 1 to
//     order.MaxPageSize; order.DefaultPageSize when absent or null), which
//     then covers its edges. A root field that reads or writes orders
//     costs RootFieldCost more: a database round trip (and, for a
//     mutation, a Kafka round trip) is worth many resolved values.
//     Directives (@skip, @include) are ignored: the measure is an upper bound.
//
// Introspection fields (__schema, __type and everything under them) are
// measured apart, by the same rules, with list bounds taken from the schema
// itself (how many types, the most fields of a type, …), and refused by
// their own limits: tools send graphql-js's getIntrospectionQuery, which is
// 15 levels deep, while data fields stay as strictly limited as before.
// gqlparser's MaxIntrospectionDepth rule also refuses __Type list fields
// nested past 3 (fields { type { fields … } } cycles).
const RootFieldCost = 1000

// measure is what a selection set selects, data and introspection apart.
type measure struct {
	depth, fields, cost    int // data fields
	iDepth, iFields, iCost int // introspection fields
}

// add merges the measure of a sibling selection.
func (m *measure) add(o measure) {
	m.depth, m.iDepth = max(m.depth, o.depth), max(m.iDepth, o.iDepth)
	m.fields, m.cost = satAdd(m.fields, o.fields), satAdd(m.cost, o.cost)
	m.iFields, m.iCost = satAdd(m.iFields, o.iFields), satAdd(m.iCost, o.iCost)
}

func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// costModel holds the list bounds of a schema.
type costModel struct {
	schema *ast.Schema
	// bounds are the most items of list fields, by schema coordinate
	// ("Order.items"); data fields from listBounds, introspection fields
	// from the schema.
	bounds map[string]int
	// maxBound is the bound of a list field missing from bounds (none in
	// this schema; TestListBoundsCoverSchema keeps it so).
	maxBound int
}

// listBounds are the most items a data list field returns. OrderConnection
// edges are bounded by the page size, counted at Query.orders (pageField).
var listBounds = map[string]int{
	"Order.items":           order.MaxItems,
	"OrderConnection.edges": 1,
}

// pageField is the field whose page size, from its first argument,
// multiplies the cost of its selections.
const pageField = "Query.orders"

func newCostModel(schema *ast.Schema) *costModel {
	m := &costModel{schema: schema, bounds: map[string]int{}}
	for k, v := range listBounds {
		m.bounds[k] = v
	}
	var fields, inputFields, args, enumValues, interfaces, possible int
	for _, def := range schema.Types {
		switch def.Kind {
		case ast.Object, ast.Interface:
			fields = max(fields, len(def.Fields))
			for _, f := range def.Fields {
				args = max(args, len(f.Arguments))
			}
		case ast.InputObject:
			inputFields = max(inputFields, len(def.Fields))
		case ast.Enum:
			enumValues = max(enumValues, len(def.EnumValues))
		}
		interfaces = max(interfaces, len(def.Interfaces))
		if def.IsAbstractType() {
			possible = max(possible, len(schema.GetPossibleTypes(def)))
		}
	}
	var locations int
	for _, d := range schema.Directives {
		args = max(args, len(d.Arguments))
		locations = max(locations, len(d.Locations))
	}
	for k, v := range map[string]int{
		"__Schema.types":        len(schema.Types),
		"__Schema.directives":   len(schema.Directives),
		"__Type.fields":         fields,
		"__Type.inputFields":    inputFields,
		"__Type.enumValues":     enumValues,
		"__Type.interfaces":     interfaces,
		"__Type.possibleTypes":  possible,
		"__Field.args":          args,
		"__Directive.args":      args,
		"__Directive.locations": locations,
	} {
		m.bounds[k] = max(v, 1)
	}
	m.maxBound = order.MaxItems
	for _, v := range m.bounds {
		m.maxBound = max(m.maxBound, v)
	}
	return m
}

// measurer measures the operations and fragments of one document for one
// request: fragments are measured once (memo) and reused at each spread.
type measurer struct {
	m     *costModel
	vars  map[string]any
	defs  ast.VariableDefinitionList // of the operation executed
	frags map[string]*ast.FragmentDefinition
	memo  map[string]measure
	busy  map[string]bool // fragments being measured: a cycle is a validation error, measured as nothing
}

func (m *costModel) measurer(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) *measurer {
	r := &measurer{m: m, vars: vars, frags: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		memo: make(map[string]measure, len(doc.Fragments)), busy: map[string]bool{}}
	if op != nil {
		r.defs = op.VariableDefinitions
	}
	for _, f := range doc.Fragments {
		if _, ok := r.frags[f.Name]; !ok { // the first of duplicate names, as the validator's walker
			r.frags[f.Name] = f
		}
	}
	return r
}

// operation measures an operation.
func (r *measurer) operation(op *ast.OperationDefinition) measure {
	var root *ast.Definition
	switch op.Operation {
	case ast.Mutation:
		root = r.m.schema.Mutation
	case ast.Subscription:
		root = r.m.schema.Subscription
	default:
		root = r.m.schema.Query
	}
	return r.set(op.SelectionSet, root, false)
}

// fragment measures a fragment definition (memoised).
func (r *measurer) fragment(name string) measure {
	if m, ok := r.memo[name]; ok {
		return m
	}
	f := r.frags[name]
	if f == nil || r.busy[name] {
		return measure{} // unknown or cyclic: the validator refuses it
	}
	r.busy[name] = true
	def := r.m.schema.Types[f.TypeCondition]
	m := r.set(f.SelectionSet, def, strings.HasPrefix(f.TypeCondition, "__"))
	delete(r.busy, name)
	r.memo[name] = m
	return m
}

// set measures a selection set on type parent (nil when unknown); intro
// tells that it is inside introspection.
func (r *measurer) set(set ast.SelectionSet, parent *ast.Definition, intro bool) measure {
	var m measure
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			m.add(r.field(s, parent, intro))
		case *ast.InlineFragment:
			def := parent
			if s.TypeCondition != "" {
				def = r.m.schema.Types[s.TypeCondition]
			}
			m.add(r.set(s.SelectionSet, def, intro))
		case *ast.FragmentSpread:
			m.add(r.fragment(s.Name))
		}
	}
	return m
}

func (r *measurer) field(f *ast.Field, parent *ast.Definition, intro bool) measure {
	var (
		def   *ast.FieldDefinition
		child *ast.Definition
		coord string
	)
	if parent != nil {
		coord = parent.Name + "." + f.Name
		if def = parent.Fields.ForName(f.Name); def != nil {
			child = r.m.schema.Types[def.Type.Name()]
		}
	}
	isRoot := parent != nil && parent == r.rootOf(parent)
	intro = intro || (parent != nil && strings.HasPrefix(parent.Name, "__")) ||
		(isRoot && (f.Name == "__schema" || f.Name == "__type"))
	sub := r.set(f.SelectionSet, child, intro)

	bound := 1
	switch {
	case coord == pageField:
		bound = r.pageSize(f)
	case def != nil && def.Type.Elem != nil:
		if b, ok := r.m.bounds[coord]; ok {
			bound = b
		} else {
			bound = r.m.maxBound
		}
	}
	var cost int
	if len(f.SelectionSet) == 0 {
		cost = bound // a leaf, or a list of leaves
	} else if intro {
		cost = satAdd(1, satMul(bound, sub.iCost))
	} else {
		cost = satAdd(1, satMul(bound, sub.cost))
	}
	if intro {
		return measure{iDepth: sub.iDepth + 1, iFields: satAdd(sub.iFields, 1), iCost: cost}
	}
	if isRoot && f.Name != "__typename" {
		cost = satAdd(cost, RootFieldCost)
	}
	return measure{depth: sub.depth + 1, fields: satAdd(sub.fields, 1), cost: cost,
		iDepth: sub.iDepth, iFields: sub.iFields, iCost: sub.iCost}
}

// rootOf returns def when it is a root operation type, else nil.
func (r *measurer) rootOf(def *ast.Definition) *ast.Definition {
	s := r.m.schema
	if def == s.Query || def == s.Mutation || def == s.Subscription {
		return def
	}
	return nil
}

// pageSize is the page size of an orders field: the larger of its first
// and last arguments (the service refuses both at once, but the cost is
// measured before it runs), each clamped to 1..order.MaxPageSize (the
// service refuses others), or order.DefaultPageSize when absent or null. A
// value the validator will refuse (a string, say) counts as the largest
// page.
func (r *measurer) pageSize(f *ast.Field) int {
	first, last := f.Arguments.ForName("first"), f.Arguments.ForName("last")
	if first == nil || first.Value == nil {
		if last == nil || last.Value == nil {
			return order.DefaultPageSize
		}
		return r.argPage(last)
	}
	if last == nil || last.Value == nil {
		return r.argPage(first)
	}
	return max(r.argPage(first), r.argPage(last))
}

func (r *measurer) argPage(arg *ast.Argument) int {
	v := arg.Value
	if v.Kind == ast.Variable {
		if x, ok := r.vars[v.Raw]; ok {
			return clampPage(x)
		}
		if d := r.defs.ForName(v.Raw); d != nil && d.DefaultValue != nil {
			v = d.DefaultValue
		} else {
			return order.DefaultPageSize
		}
	}
	switch v.Kind {
	case ast.NullValue:
		return order.DefaultPageSize
	case ast.IntValue:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		if err != nil {
			return order.MaxPageSize
		}
		return clampPage(n)
	}
	return order.MaxPageSize
}

func clampPage(v any) int {
	var n int64
	switch x := v.(type) {
	case nil:
		return order.DefaultPageSize
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return order.MaxPageSize
		}
		n = i
	case int64:
		n = x
	case int:
		n = int64(x)
	case float64:
		n = int64(min(max(x, 0), order.MaxPageSize))
	default:
		return order.MaxPageSize
	}
	return int(min(max(n, 1), order.MaxPageSize))
}
