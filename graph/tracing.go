package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/telemetry"
)

// opTracing is a gqlgen extension that wraps each operation in a span
// named "<type> <root field>" ("mutation createOrder"): the root field is
// bounded by the schema, unlike the client's operation name, which is an
// attribute (graphql.operation.name). The span is the parent of the
// resolvers' work: database statements and the Kafka request-reply. A
// failed operation has status Error and the first error's code in
// orderstream.graphql.code; the query text and variables are not recorded
// (they hold order payloads).
type opTracing struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = opTracing{}

func (opTracing) ExtensionName() string                          { return "OrderStreamTracing" }
func (opTracing) Validate(schema graphql.ExecutableSchema) error { return nil }

func (opTracing) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	opType := "query"
	if oc.Operation != nil {
		opType = string(oc.Operation.Operation)
	}
	ctx, span := telemetry.Start(ctx, opType+" "+rootField(oc), trace.WithAttributes(
		attribute.String("graphql.operation.type", opType),
		attribute.String("graphql.operation.name", oc.OperationName),
	))
	defer span.End()
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > 0 {
		code, _ := resp.Errors[0].Extensions["code"].(string)
		span.SetAttributes(attribute.String("orderstream.graphql.code", code))
		span.SetStatus(codes.Error, resp.Errors[0].Message)
	}
	return resp
}
