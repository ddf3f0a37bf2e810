package graph

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/orderstream/orderstream/internal/order"
)

func testModel(t testing.TB) *costModel {
	t.Helper()
	return newCostModel(NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema())
}

func measureQuery(t testing.TB, m *costModel, query string, vars map[string]any) measure {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	op := doc.Operations[0]
	return m.measurer(doc, op, vars).operation(op)
}

const u = `userId: "u"`

func TestMeasure(t *testing.T) {
	m := testModel(t)
	lookup := `orderByExternalId(externalId: "x", ` + u + `)`
	for _, tc := range []struct {
		name  string
		query string
		vars  map[string]any
		want  measure
	}{
		{"Typename", `{ __typename }`, nil, measure{depth: 1, fields: 1, cost: 1}},
		{"Lookup", `{ ` + lookup + ` { id status } }`, nil, measure{depth: 2, fields: 3, cost: RootFieldCost + 1 + 2}},
		{"Items", `{ ` + lookup + ` { items { name price } } }`, nil,
			measure{depth: 3, fields: 4, cost: RootFieldCost + 1 + (1 + order.MaxItems*2)}},
		{"Aliases", `{ a: __typename b: __typename c: __typename }`, nil, measure{depth: 1, fields: 3, cost: 3}},
		{"Fragment", `{ ` + lookup + ` { ...F } } fragment F on Order { id items { name } }`, nil,
			measure{depth: 3, fields: 4, cost: RootFieldCost + 1 + 1 + 1 + order.MaxItems}},
		{"InlineFragment", `{ ... on Query { ... on Query { __typename } } }`, nil, measure{depth: 1, fields: 1, cost: 1}},
		{"PageDefault", `{ orders(` + u + `) { edges { node { id } } } }`, nil,
			measure{depth: 4, fields: 4, cost: RootFieldCost + 1 + order.DefaultPageSize*(1+1+1)}},
		{"Page100", `{ orders(` + u + `, first: 100) { edges { node { id } } pageInfo { hasNextPage } } }`, nil,
			measure{depth: 4, fields: 6, cost: RootFieldCost + 1 + 100*(3+2)}},
		{"PageLast", `{ orders(` + u + `, last: 100) { edges { cursor } } }`, nil,
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + 100*2}},
		{"PageFirstAndLast", `{ orders(` + u + `, first: 3, last: 60) { edges { cursor } } }`, nil,
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + 60*2}},
		{"PageOver", `{ orders(` + u + `, first: 5000) { edges { cursor } } }`, nil,
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + order.MaxPageSize*2}},
		{"PageVariable", `query($n: Int) { orders(` + u + `, first: $n) { edges { cursor } } }`, map[string]any{"n": json.Number("7")},
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + 7*2}},
		{"PageVariableDefault", `query($n: Int = 3) { orders(` + u + `, first: $n) { edges { cursor } } }`, nil,
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + 3*2}},
		{"PageVariableNull", `query($n: Int = 3) { orders(` + u + `, first: $n) { edges { cursor } } }`, map[string]any{"n": nil},
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + order.DefaultPageSize*2}},
		{"PageItems", `{ orders(` + u + `, first: 100) { edges { node { items { name } } } } }`, nil,
			measure{depth: 5, fields: 5, cost: RootFieldCost + 1 + 100*(1+1+1+order.MaxItems)}},
		{"Mutation", `mutation { cancelOrder(input: {externalId: "x", ` + u + `}) { order { status } } }`, nil,
			measure{depth: 3, fields: 3, cost: RootFieldCost + 1 + 1 + 1}},
		{"Introspection", `{ __schema { types { name fields { name } } } }`, nil,
			measure{iDepth: 4, iFields: 5, iCost: 1 + 1 + m.bounds["__Schema.types"]*(1+1+m.bounds["__Type.fields"])}},
		{"IntrospectionType", `{ __type(name: "Order") { ofType { ofType { name } } } }`, nil,
			measure{iDepth: 4, iFields: 4, iCost: 4}},
		{"Mixed", `{ __typename __type(name: "Order") { name } }`, nil,
			measure{depth: 1, fields: 1, cost: 1, iDepth: 2, iFields: 2, iCost: 2}},
		{"UnknownField", `{ nothing { here } }`, nil, measure{depth: 2, fields: 2, cost: RootFieldCost + 2}},
		{"FragmentCycle", `{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }`, nil,
			measure{depth: 1, fields: 1, cost: 1}},
		{"UnknownFragment", `{ ...Nope }`, nil, measure{}},
		{"Bomb", fragmentBomb(64), nil, measure{depth: 1, fields: math.MaxInt, cost: math.MaxInt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := measureQuery(t, m, tc.query, tc.vars); got != tc.want {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

// fragmentBomb is n fragments each spreading the next one twice.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query { __typename }", n)
	return b.String()
}

// TestMeasureLinear: measuring visits each fragment once, so a bomb of
// 1000 fragments (2^1000 fields expanded) is measured in a few allocations
// per fragment.
func TestMeasureLinear(t *testing.T) {
	m := testModel(t)
	doc, err := parser.ParseQuery(&ast.Source{Input: fragmentBomb(1000)})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if got := m.measurer(doc, doc.Operations[0], nil).operation(doc.Operations[0]); got.fields != math.MaxInt {
			t.Fatalf("got %d fields; want saturated", got.fields)
		}
	})
	if allocs > 5*1000 {
		t.Errorf("got %.0f allocations for 1000 fragments; want at most 5 per fragment", allocs)
	}
}

// standardIntrospection is an introspection query of the shape tools send
// (graphql-js's getIntrospectionQuery with every option on, which GraphQL
// Code Generator and graphql-inspector use, or Apollo Rover's): the full
// type of every type, with type references ofTypes levels deep (graphql-js
// 16 asks for 9, 15 levels in all; Rover for 7).
func standardIntrospection(ofTypes int) string {
	typeRef := "kind name" + strings.Repeat(" ofType { kind name", ofTypes) + strings.Repeat(" }", ofTypes)
	return `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind } mutationType { name kind } subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { ` + typeRef + ` }`
}

// TestIntrospectionFitsItsLimits: the standard introspection queries pass
// the introspection limits with room for the schema to grow, while they
// would fail the data limits.
func TestIntrospectionFitsItsLimits(t *testing.T) {
	m := testModel(t)
	o := Options{}.withDefaults()
	for _, levels := range []int{7, 9} {
		got := measureQuery(t, m, standardIntrospection(levels), nil)
		t.Logf("%d ofType levels: %+v", levels, got)
		if levels == 9 && got.iDepth != 15 {
			t.Errorf("graphql-js's query: got depth %d; want 15", got.iDepth)
		}
		if got.iDepth > o.MaxIntrospectionDepth || 2*got.iFields > o.MaxIntrospectionFields || 2*got.iCost > o.MaxIntrospectionComplexity {
			t.Errorf("%d levels: %+v; want within half the limits (fields %d, cost %d) and depth %d",
				levels, got, o.MaxIntrospectionFields, o.MaxIntrospectionComplexity, o.MaxIntrospectionDepth)
		}
		if got.iDepth <= o.MaxDepth {
			t.Errorf("%d levels: depth %d; want it deeper than the data limit %d (else this test proves nothing)", levels, got.iDepth, o.MaxDepth)
		}
	}
}

// TestListBoundsCoverSchema: every list field of the data schema has a
// bound in listBounds, so that a new one cannot be measured as cheap.
func TestListBoundsCoverSchema(t *testing.T) {
	m := testModel(t)
	for _, def := range m.schema.Types {
		if strings.HasPrefix(def.Name, "__") || (def.Kind != ast.Object && def.Kind != ast.Interface) {
			continue
		}
		for _, f := range def.Fields {
			coord := def.Name + "." + f.Name
			if f.Type.Elem != nil && coord != pageField {
				if _, ok := listBounds[coord]; !ok {
					t.Errorf("list field %s has no bound in listBounds", coord)
				}
			}
		}
	}
}
