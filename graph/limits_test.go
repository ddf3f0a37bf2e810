package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

func TestMeasure(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { a: A, b: Int }
		type A { x: Int, a: A }`})
	for _, tc := range []struct {
		name          string
		query         string
		depth, fields int
	}{
		{"Flat", `{ b }`, 1, 1},
		{"Nested", `{ a { x a { x } } }`, 3, 4},
		{"Aliases", `{ b1: b b2: b b3: b }`, 1, 3},
		{"Fragment", `{ a { ...F } } fragment F on A { x a { x } }`, 3, 4},
		{"InlineFragment", `{ a { ... on A { a { a { x } } } } }`, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := gqlparser.LoadQuery(schema, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			depth, fields := measure(doc.Operations[0].SelectionSet, 1)
			if depth != tc.depth || fields != tc.fields {
				t.Errorf("got depth %d, %d fields; want %d, %d", depth, fields, tc.depth, tc.fields)
			}
		})
	}
}
