package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/telemetry"
)

// WithTracing gives every statement run on behalf of a traced operation a
// CLIENT span: named after the sqlc query ("CreateOrder") or, for other
// statements, their first keyword ("BEGIN", "COMMIT"). Statements outside
// any trace (the recovery loop's polling, health checks) get none, so that
// they do not fill the tracing backend with one-span traces. The query text
// is recorded (it has placeholders, never values); arguments are not.
// Use it only when tracing is on.
func WithTracing() Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = queryTracer{} }
}

// queryTracer is a pgx.QueryTracer that starts and ends the spans.
type queryTracer struct{}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

// TraceQueryStart implements pgx.QueryTracer.
func (queryTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return startSpan(ctx, conn, data.SQL)
}

// TraceBatchStart implements pgx.BatchTracer. A batch (a statement sent
// with its row-level security user, or with synchronous_commit off) gets
// one span, named after its sqlc query.
func (queryTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	sql := ""
	if data.Batch != nil {
		for _, q := range data.Batch.QueuedQueries {
			if sql == "" || strings.HasPrefix(q.SQL, "-- name: ") {
				sql = q.SQL
			}
		}
	}
	return startSpan(ctx, conn, sql)
}

// TraceBatchQuery implements pgx.BatchTracer: the batch's span covers it.
func (queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	span, ok := ctx.Value(querySpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	}
	span.End()
}

func startSpan(ctx context.Context, conn *pgx.Conn, sql string) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	cfg := conn.Config()
	ctx, span := telemetry.Start(ctx, spanName(sql), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", cfg.Database),
		attribute.String("db.query.text", sql),
		attribute.String("server.address", cfg.Host),
		attribute.Int("server.port", int(cfg.Port)),
	))
	// Keep the span under a key of our own: TraceQueryEnd must never end
	// the caller's span.
	return context.WithValue(ctx, querySpanKey{}, span)
}

type querySpanKey struct{}

// TraceQueryEnd implements pgx.QueryTracer.
func (queryTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(querySpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	} else {
		span.SetAttributes(attribute.Int64("db.rows_affected", data.CommandTag.RowsAffected()),
			attribute.String("db.operation.name", operation(data.CommandTag.String())))
	}
	span.End()
}

// spanName is the sqlc query name of sql ("-- name: CreateOrder :one"), or
// its first keyword in upper case.
func spanName(sql string) string {
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok && name != "" {
			return name
		}
	}
	return strings.ToUpper(operation(sql))
}

// operation is the first word of s.
func operation(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t\n;"); i >= 0 {
		return s[:i]
	}
	return s
}
