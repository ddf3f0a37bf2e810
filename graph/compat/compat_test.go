package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

func load(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "s.graphqls", Input: sdl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const base = `
type Query { order(id: ID!): Order, list(first: Int): [Order!]! }
type Order { id: ID!, status: Status!, total: String }
input In { a: String!, b: Int }
enum Status { NEW DONE }`

func TestBreaking(t *testing.T) {
	for _, tc := range []struct{ name, next, want string }{
		{"AdditionsAreFine", base + "\nextend type Order { note: String }\nextend enum Status { FAILED }\ntype Extra { x: Int }", ""},
		{"NewOptionalArgument", strings.Replace(base, "list(first: Int)", "list(first: Int, after: String)", 1), ""},
		{"RemovedField", strings.Replace(base, ", total: String", "", 1), "field Order.total was removed"},
		{"ChangedType", strings.Replace(base, "total: String", "total: Int", 1), "field Order.total changed type from String to Int"},
		{"RemovedEnumValue", strings.Replace(base, "NEW DONE", "NEW", 1), "enum value Status.DONE was removed"},
		{"NewRequiredArgument", strings.Replace(base, "list(first: Int)", "list(first: Int, user: ID!)", 1), "argument Query.list(user) is new and required"},
		{"NewRequiredInputField", strings.Replace(base, "b: Int }", "b: Int, c: Int! }", 1), "input field In.c is new and required"},
		{"RemovedType", strings.Replace(base, "input In { a: String!, b: Int }", "", 1), "type In was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(Breaking(load(t, base), load(t, tc.next)), "; ")
			if got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

// TestSchemaAgainstBaseline is the partners' schema check: the schema in
// graph/*.graphqls must not break the reviewed baseline graph/baseline.graphql.
// A deliberate breaking change updates the baseline in the same commit
// (UPDATE_SCHEMA_BASELINE=1 go test ./graph/compat/ rewrites it).
func TestSchemaAgainstBaseline(t *testing.T) {
	files, err := filepath.Glob("../*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var sources []*ast.Source
	var current strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
		current.Write(b)
	}
	next, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatal(gerr)
	}
	for _, problem := range Deprecations(next) {
		t.Errorf("deprecation rule: %s", problem)
	}
	if os.Getenv("UPDATE_SCHEMA_BASELINE") == "1" {
		if err := os.WriteFile("../baseline.graphql", []byte(current.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile("../baseline.graphql")
	if err != nil {
		t.Fatalf("read the baseline: %v (create it with UPDATE_SCHEMA_BASELINE=1)", err)
	}
	for _, change := range Breaking(load(t, string(b)), next) {
		t.Errorf("breaking change against graph/baseline.graphql: %s", change)
	}
}

func TestDeprecations(t *testing.T) {
	const schema = `
type Query { order(id: ID!, legacy: String %s): Order }
type Order { id: ID!, total: String %s }
input In { a: String %s }
enum Status { NEW DONE %s }`
	dated := `@deprecated(reason: "Use x instead (deprecated 2026-11-26, removal after 2027-05-26)")`
	for _, tc := range []struct{ name, directive, want string }{
		{"NoDeprecation", "", ""},
		{"Dated", dated, ""},
		{"DatedWithoutRemoval", `@deprecated(reason: "Use x instead (deprecated 2026-11-26)")`, ""},
		{"NoReason", "@deprecated", "@deprecated on Order.total: no reason"},
		{"NoDate", `@deprecated(reason: "Use x instead")`, "@deprecated on Order.total: reason \"Use x instead\" has no date"},
		{"DateInAnotherForm", `@deprecated(reason: "Use x instead (since 26.11.2026)")`, "has no date"},
		{"NotACalendarDate", `@deprecated(reason: "Use x (deprecated 2026-13-01)")`, "2026-13-01 is not a date"},
		{"RemovalBeforeDeprecation", `@deprecated(reason: "Use x (deprecated 2026-11-26, removal after 2026-01-01)")`, "removal date 2026-01-01 is before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(Deprecations(load(t, fmt.Sprintf(schema, "", tc.directive, "", ""))), "; ")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
	// Arguments, input fields and enum values follow the same rule.
	got := Deprecations(load(t, fmt.Sprintf(schema, "@deprecated", "", "@deprecated", "@deprecated")))
	want := []string{"@deprecated on In.a: no reason", "@deprecated on Query.order(legacy): no reason", "@deprecated on Status.DONE: no reason"}
	if len(got) != len(want) {
		t.Fatalf("got %q; want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got %q; want it to start with %q", got[i], want[i])
		}
	}
}
