package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orderstream/orderstream/internal/metrics"
)

// opMetrics is a gqlgen extension that counts and times operations by their
// root field (bounded by the schema, unlike client-chosen operation names)
// and outcome (OK or the first error's code).
type opMetrics struct{ m *metrics.Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = opMetrics{}

func (opMetrics) ExtensionName() string                          { return "OrderStreamMetrics" }
func (opMetrics) Validate(schema graphql.ExecutableSchema) error { return nil }

func (e opMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		// Called for each message pushed, after waiting for it: not an
		// operation's latency. Subscriptions have their own gauge.
		return resp
	}
	outcome := "OK"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "ERROR"
		if code, ok := resp.Errors[0].Extensions["code"].(string); ok {
			outcome = code
		}
	}
	e.m.GraphQLOperation(rootField(oc), outcome, time.Since(start))
	return resp
}

func rootField(oc *graphql.OperationContext) string {
	if oc == nil || oc.Operation == nil {
		return "unknown"
	}
	for _, sel := range oc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return f.Name
		}
	}
	return "unknown"
}
