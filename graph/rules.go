package graph

import (
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// validationRules are gqlparser's default rules with two changes (gqlgen
// swaps in its suggestion-free variants on top, as it does for the defaults):
//   - SingleFieldSubscriptions counts response names, as the spec and
//     graphql-js do; gqlparser's counts field names, so
//     subscription { a: orderUpdated(…) b: orderUpdated(…) } passed validation
//     and failed in execution with an internal error.
//   - DecimalLiterals keeps the text of Decimal literals: gqlparser turns a
//     float literal into a float64 (0.009999999999999999999 becomes 0.01)
//     before UnmarshalDecimal sees it, so the literal is handed on as the
//     string it was written as, and parsed exactly.
func validationRules() *rules.Rules {
	r := rules.NewDefaultRules()
	r.ReplaceRule(rules.SingleFieldSubscriptionsRule.Name, singleFieldSubscriptions)
	r.AddRule("DecimalLiterals", decimalLiterals)
	return r
}

// decimalLiterals turns Int and Float literals of type Decimal into string
// literals of the same text. It runs while the document is validated, before
// it is cached or executed; custom scalars accept any literal kind, so no
// other rule sees a difference.
func decimalLiterals(observers *core.Events, _ core.AddErrFunc) {
	observers.OnValue(func(_ *core.Walker, v *ast.Value) {
		if v.Definition != nil && v.Definition.Name == "Decimal" && (v.Kind == ast.FloatValue || v.Kind == ast.IntValue) {
			v.Kind = ast.StringValue
		}
	})
}

func singleFieldSubscriptions(observers *core.Events, addError core.AddErrFunc) {
	observers.OnOperation(func(walker *core.Walker, op *ast.OperationDefinition) {
		if walker.Schema.Subscription == nil || op.Operation != ast.Subscription {
			return
		}
		name := "Anonymous Subscription"
		if op.Name != "" {
			name = "Subscription " + strconv.Quote(op.Name)
		}
		seen := map[string]bool{}
		visited := map[string]bool{}
		var walk func(ast.SelectionSet)
		walk = func(set ast.SelectionSet) {
			for _, sel := range set {
				switch s := sel.(type) {
				case *ast.Field:
					key := s.Alias
					if key == "" {
						key = s.Name
					}
					if !seen[key] {
						seen[key] = true
						if len(seen) == 2 {
							addError(core.Message("%s must select only one top level field.", name), core.At(s.Position))
						}
					}
					if strings.HasPrefix(s.Name, "__") {
						addError(core.Message("%s must not select an introspection top level field.", name), core.At(s.Position))
					}
				case *ast.InlineFragment:
					walk(s.SelectionSet)
				case *ast.FragmentSpread:
					if s.Definition != nil && !visited[s.Name] {
						visited[s.Name] = true
						walk(s.Definition.SelectionSet)
					}
				}
			}
		}
		walk(op.SelectionSet)
	})
}
