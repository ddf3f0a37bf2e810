package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits refuse introspection when it is off (with a validation code rather
// than the resolvers' internal error) and bound the shape of an operation, on top of gqlgen's complexity
// limit and the parser's token limit: a deep query or one with hundreds of
// aliases (each alias of orderByExternalId is a database lookup) is refused
// before it runs.
type Limits struct {
	// MaxDepth is the deepest nesting of selections (orderByExternalId {
	// items { name } } has depth 3).
	MaxDepth int
	// MaxFields is the number of fields selected in all, aliases and
	// fragments included.
	MaxFields int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

func (Limits) ExtensionName() string                          { return "OrderStreamLimits" }
func (Limits) Validate(schema graphql.ExecutableSchema) error { return nil }

// MutateOperationContext checks the operation once it is parsed and
// validated (fragments are resolved and acyclic by then).
func (l Limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if oc.DisableIntrospection {
		for _, sel := range oc.Operation.SelectionSet {
			if f, ok := sel.(*ast.Field); ok && (f.Name == "__schema" || f.Name == "__type") {
				// As Apollo Server reports it when introspection is off.
				return &gqlerror.Error{Message: "introspection is disabled", Locations: []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}},
					Extensions: map[string]any{"code": errcode.ValidationFailed}}
			}
		}
	}
	depth, fields := measure(oc.Operation.SelectionSet, 1)
	if l.MaxDepth > 0 && depth > l.MaxDepth {
		return &gqlerror.Error{Message: fmt.Sprintf("the operation is %d levels deep; at most %d are allowed", depth, l.MaxDepth),
			Extensions: map[string]any{"code": "QUERY_TOO_DEEP"}}
	}
	if l.MaxFields > 0 && fields > l.MaxFields {
		return &gqlerror.Error{Message: fmt.Sprintf("the operation selects %d fields; at most %d are allowed", fields, l.MaxFields),
			Extensions: map[string]any{"code": "QUERY_TOO_LARGE"}}
	}
	return nil
}

// measure returns the depth of set (at level) and the fields it selects.
func measure(set ast.SelectionSet, level int) (depth, fields int) {
	depth = level - 1
	for _, sel := range set {
		var d, f int
		switch s := sel.(type) {
		case *ast.Field:
			d, f = measure(s.SelectionSet, level+1)
			f++
			d = max(d, level)
		case *ast.InlineFragment:
			d, f = measure(s.SelectionSet, level)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d, f = measure(s.Definition.SelectionSet, level)
			}
		}
		depth, fields = max(depth, d), fields+f
	}
	return depth, fields
}
