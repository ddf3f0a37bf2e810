package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits bound the cost of every operation (the rules are in cost.go) and
// refuse introspection when it is off (with a validation code rather than
// the resolvers' internal error).
//
// The bounds are checked before gqlparser validates the document: some
// validation rules are quadratic (OverlappingFieldsCanBeMerged compares
// every pair of fields with one response name, 3.7 s for {__typename
// ×8000}), so they must only ever see a bounded document. gqlgen has no hook
// between its parse and its validation; the operation-parameter hook runs
// before both, so Limits parses the query itself (with the parser alone and
// the same token limit) unless the parsed-query cache holds it already,
// measures it in one linear pass and refuses it, so that gqlgen never parses
// or validates it. A cached document is measured again on each request, as
// its cost depends on the variables (first: $n).
type Limits struct {
	MaxDepth                   int // data fields: deepest nesting (QUERY_TOO_DEEP)
	MaxFields                  int // data fields selected, aliases and spreads expanded (QUERY_TOO_LARGE)
	MaxComplexity              int // data cost (COMPLEXITY_LIMIT_EXCEEDED)
	MaxIntrospectionDepth      int // within __schema / __type
	MaxIntrospectionFields     int
	MaxIntrospectionComplexity int
	MaxDocumentBytes           int // the query text (QUERY_TOO_LARGE)
	TokenLimit                 int // parser tokens (GRAPHQL_PARSE_FAILED)
	// Introspection allows __schema and __type; without it they are
	// refused wherever they are (in fragments too) with
	// GRAPHQL_VALIDATION_FAILED, as Apollo Server reports it.
	Introspection bool

	model *costModel
	cache graphql.Cache[*ast.QueryDocument] // gqlgen's parsed-query cache
}

// Document limits, on top of the token limit, bound what the validator does
// before it runs: it walks every operation with the fragments it reaches,
// compares a chain of n fragments spreading one another in n² steps
// (OverlappingFieldsCanBeMerged: 81 ms for 500), and reports each unused
// variable as an error of its own.
const (
	maxOperations = 50  // operations in a document
	maxFragments  = 200 // fragment definitions in a document
	maxVariables  = 100 // variable definitions of an operation
)

// The codes of refused operations.
const (
	codeTooDeep       = "QUERY_TOO_DEEP"
	codeQueryTooLarge = "QUERY_TOO_LARGE"
	codeTooComplex    = "COMPLEXITY_LIMIT_EXCEEDED" // as gqlgen's complexity extension
)

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = &Limits{}

func (*Limits) ExtensionName() string { return "OrderStreamLimits" }

// Validate takes the schema's list bounds for the introspection cost.
func (l *Limits) Validate(schema graphql.ExecutableSchema) error {
	l.model = newCostModel(schema.Schema())
	return nil
}

func limitError(code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
}

// MutateOperationParameters checks the document before gqlgen parses and
// validates it. Extensions that fill in the query (APQ) must come first.
func (l *Limits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if l.MaxDocumentBytes > 0 && len(p.Query) > l.MaxDocumentBytes {
		return limitError(codeQueryTooLarge, "the query is %d bytes; at most %d are allowed", len(p.Query), l.MaxDocumentBytes)
	}
	doc, ok := l.cache.Get(ctx, p.Query)
	if !ok {
		var err error
		doc, err = parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, l.TokenLimit)
		if err != nil {
			if gqlErr, ok := err.(*gqlerror.Error); ok {
				errcode.Set(gqlErr, errcode.ParseFailed)
				return gqlErr
			}
			return gqlerror.Wrap(err)
		}
	}
	if err := checkDocument(doc); err != nil {
		return err
	}
	return l.check(doc, p.OperationName, p.Variables)
}

// checkDocument applies the document limits.
func checkDocument(doc *ast.QueryDocument) *gqlerror.Error {
	if n := len(doc.Operations); n > maxOperations {
		return limitError(codeQueryTooLarge, "the document has %d operations; at most %d are allowed", n, maxOperations)
	}
	if n := len(doc.Fragments); n > maxFragments {
		return limitError(codeQueryTooLarge, "the document has %d fragments; at most %d are allowed", n, maxFragments)
	}
	for _, op := range doc.Operations {
		if n := len(op.VariableDefinitions); n > maxVariables {
			return limitError(codeQueryTooLarge, "the operation defines %d variables; at most %d are allowed", n, maxVariables)
		}
	}
	return nil
}

// check measures the operation that will be executed against every limit,
// and every other operation and fragment of doc against the field limits,
// which bound the validator's work.
func (l *Limits) check(doc *ast.QueryDocument, opName string, vars map[string]any) *gqlerror.Error {
	op := doc.Operations.ForName(opName)
	r := l.model.measurer(doc, op, vars)
	if op != nil {
		m := r.operation(op)
		switch {
		case !l.Introspection && m.iFields > 0:
			return limitError(errcode.ValidationFailed, "introspection is disabled")
		case l.MaxComplexity > 0 && m.cost > l.MaxComplexity:
			return limitError(codeTooComplex, "operation has complexity %d, which exceeds the limit of %d", m.cost, l.MaxComplexity)
		case l.MaxIntrospectionComplexity > 0 && m.iCost > l.MaxIntrospectionComplexity:
			return limitError(codeTooComplex, "the introspection has complexity %d, which exceeds the limit of %d", m.iCost, l.MaxIntrospectionComplexity)
		case l.MaxDepth > 0 && m.depth > l.MaxDepth:
			return limitError(codeTooDeep, "the operation is %d levels deep; at most %d are allowed", m.depth, l.MaxDepth)
		case l.MaxIntrospectionDepth > 0 && m.iDepth > l.MaxIntrospectionDepth:
			return limitError(codeTooDeep, "the introspection is %d levels deep; at most %d are allowed", m.iDepth, l.MaxIntrospectionDepth)
		}
		if err := l.checkFields("the operation", m); err != nil {
			return err
		}
	}
	for _, o := range doc.Operations {
		if o != op {
			if err := l.checkFields(fmt.Sprintf("operation %q", o.Name), r.operation(o)); err != nil {
				return err
			}
		}
	}
	for _, f := range doc.Fragments {
		if err := l.checkFields(fmt.Sprintf("fragment %q", f.Name), r.fragment(f.Name)); err != nil {
			return err
		}
	}
	return nil
}

func (l *Limits) checkFields(what string, m measure) *gqlerror.Error {
	if l.MaxFields > 0 && m.fields > l.MaxFields {
		return limitError(codeQueryTooLarge, "%s selects %d fields; at most %d are allowed", what, m.fields, l.MaxFields)
	}
	if l.MaxIntrospectionFields > 0 && m.iFields > l.MaxIntrospectionFields {
		return limitError(codeQueryTooLarge, "%s selects %d introspection fields; at most %d are allowed", what, m.iFields, l.MaxIntrospectionFields)
	}
	return nil
}
