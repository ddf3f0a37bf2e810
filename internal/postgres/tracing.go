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
	if !traced(ctx) {
		return ctx
	}
	return startSpan(ctx, conn, spanName(data.SQL), data.SQL)
}

// TraceBatchStart implements pgx.BatchTracer. A batch (a statement sent
// with its row-level security user, or the worker's pipe) gets one span,
// named after its sqlc queries ("SaveApplied+NotifyStatus"), or its first
// statement when it has none.
func (queryTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !traced(ctx) {
		return ctx
	}
	if data.Batch == nil || len(data.Batch.QueuedQueries) == 0 {
		return startSpan(ctx, conn, "BATCH", "")
	}
	var names, sqls []string
	for _, q := range data.Batch.QueuedQueries {
		if strings.HasPrefix(q.SQL, "-- name: ") {
			names, sqls = append(names, spanName(q.SQL)), append(sqls, q.SQL)
		}
	}
	if len(names) == 0 {
		sql := data.Batch.QueuedQueries[0].SQL
		return startSpan(ctx, conn, spanName(sql), sql)
	}
	return startSpan(ctx, conn, strings.Join(names, "+"), strings.Join(sqls, ";\n"))
}

// TraceBatchQuery implements pgx.BatchTracer: the batch's span covers it.
func (queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	endSpan(ctx, data.Err, nil)
}

// traced reports whether ctx is part of a trace: statements outside any
// (the recovery loop's polling, health checks) get no span, and no name is
// built for them.
func traced(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

func startSpan(ctx context.Context, conn *pgx.Conn, name, sql string) context.Context {
	cfg := conn.Config()
	ctx, span := telemetry.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
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
func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	endSpan(ctx, data.Err, func(span trace.Span) {
		span.SetAttributes(attribute.Int64("db.rows_affected", data.CommandTag.RowsAffected()),
			attribute.String("db.operation.name", operation(data.CommandTag.String())))
	})
}

// endSpan ends the span startSpan put in ctx, if any, with err, or else
// with what ok adds.
func endSpan(ctx context.Context, err error, ok func(trace.Span)) {
	span, found := ctx.Value(querySpanKey{}).(trace.Span)
	if !found {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if ok != nil {
		ok(span)
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
