// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables, and the request-scoped logging of both services:
// a request id in the context, and a slog handler that adds it (and the
// trace and span ids) to every line logged with that context.
//
// Tracing is on only when an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
// Off, the tracer provider and the propagator are no-ops and the
// instrumentation in the other packages checks Enabled first, so the hot
// path does no tracing work at all.
package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of OrderStream's own spans.
const ScopeName = "github.com/orderstream/orderstream"

var enabled atomic.Bool

// Enabled reports whether tracing is on in this process. Instrumentation
// checks it before doing any work for a span.
func Enabled() bool { return enabled.Load() }

// Tracer returns OrderStream's tracer from the global provider.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// noopSpan is returned by Start when tracing is off: ending it does nothing,
// and returning it allocates nothing.
var noopSpan = trace.SpanFromContext(context.Background())

// Start starts a span with OrderStream's tracer when tracing is on; off, it
// returns ctx unchanged and a no-op span, at no cost.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, noopSpan
	}
	return Tracer().Start(ctx, name, opts...)
}

// Configured reports whether the environment asks for tracing: an OTLP
// endpoint is set, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none turns it off.
func Configured() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup turns tracing on when the environment configures it (see
// Configured): an OTLP exporter (OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf,
// the default, or grpc) behind a batch span processor, the sampler of
// OTEL_TRACES_SAMPLER (default parentbased_always_on), the service name
// of OTEL_SERVICE_NAME (default service) and the W3C TraceContext
// propagator. The SDK reads the other OTEL_* variables itself
// (OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES …).
// The returned function flushes the spans not yet exported and stops
// tracing; call it on shutdown. With tracing off it does nothing.
func Setup(ctx context.Context, service string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if !Configured() {
		Use(nil)
		return func(context.Context) error { return nil }, nil
	}
	var exp sdktrace.SpanExporter
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the default service name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "err", err) }))
	Use(tp)
	log.Info("tracing on", "exporter", "otlp", "protocol", cmp.Or(proto, "http/protobuf"),
		"endpoint", cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
		"sampler", cmp.Or(os.Getenv("OTEL_TRACES_SAMPLER"), "parentbased_always_on"))
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// Use makes tp the global tracer provider, with the W3C TraceContext (and
// Baggage) propagator, and turns tracing on; nil turns it off (no-op
// provider and propagator). Setup calls it; tests use it with an
// in-memory exporter.
func Use(tp trace.TracerProvider) {
	if tp == nil {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		return
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	enabled.Store(true)
}

// Flush calls the shutdown function of Setup with a 5 s limit, logging a
// failure: the last spans of a stopping process are exported, not lost.
func Flush(shutdown func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
}
