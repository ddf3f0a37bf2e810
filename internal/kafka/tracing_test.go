package kafka

import (
	"context"
	"slices"
	"testing"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestProducerHeaders(t *testing.T) {
	headers := []sarama.RecordHeader{{Key: []byte(HeaderCorrelationID), Value: []byte("api-1:7")}}
	c := ProducerHeaders{Headers: &headers}
	c.Set("traceparent", "a")
	c.Set("traceparent", "b") // replaces, never duplicates
	if got := c.Get("traceparent"); got != "b" {
		t.Errorf("Get(traceparent) = %q; want b", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q; want empty", got)
	}
	if got, want := c.Keys(), []string{HeaderCorrelationID, "traceparent"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q; want %q", got, want)
	}
	if len(headers) != 2 || string(headers[0].Value) != "api-1:7" {
		t.Errorf("headers = %q; want the correlation id kept and one traceparent added", headers)
	}
}

func TestConsumerHeaders(t *testing.T) {
	c := ConsumerHeaders{nil, {Key: []byte("traceparent"), Value: []byte("x")}, {Key: []byte("content-type"), Value: []byte("application/json")}}
	if got := c.Get("traceparent"); got != "x" {
		t.Errorf("Get(traceparent) = %q; want x", got)
	}
	c.Set("traceparent", "y") // read-only
	if got := c.Get("traceparent"); got != "x" {
		t.Errorf("Get after Set = %q; want x unchanged", got)
	}
	if got, want := c.Keys(), []string{"traceparent", "content-type"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q; want %q", got, want)
	}
}

// TestTraceContextRoundTrip carries a span context from a produced
// message's headers to the consumed message's, through the W3C propagator.
func TestTraceContextRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=x")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	prop := propagation.TraceContext{}

	var produced []sarama.RecordHeader
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sc), ProducerHeaders{Headers: &produced})
	if got, want := (ProducerHeaders{Headers: &produced}).Get("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Fatalf("traceparent = %q; want %q", got, want)
	}
	consumed := make([]*sarama.RecordHeader, len(produced))
	for i := range produced {
		consumed[i] = &produced[i]
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), ConsumerHeaders(consumed)))
	if !got.IsRemote() || got.TraceID() != tid || got.SpanID() != sid || !got.IsSampled() || got.TraceState().Get("vendor") != "x" {
		t.Errorf("extracted %+v; want trace %s span %s, sampled, remote, tracestate vendor=x", got, tid, sid)
	}
}

// TestTracingOff checks that with tracing off (the default) nothing is
// added to the headers and nothing is extracted.
func TestTracingOff(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	var headers []sarama.RecordHeader
	InjectTrace(ctx, &headers)
	if len(headers) != 0 {
		t.Errorf("headers = %q; want none with tracing off", headers)
	}
	m := &sarama.ConsumerMessage{Headers: []*sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}}
	if sc := trace.SpanContextFromContext(ExtractTrace(context.Background(), m)); sc.IsValid() {
		t.Errorf("extracted %v; want nothing with tracing off", sc)
	}
}

// TestTracingOffAllocatesNothing guards the hot path: with tracing off, the
// span and header calls of a produce cost no allocation.
func TestTracingOffAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	headers := make([]sarama.RecordHeader, 0, 4)
	m := &sarama.ConsumerMessage{}
	allocs := testing.AllocsPerRun(100, func() {
		sctx, span := startProducerSpan(ctx, "orders", 42, 1, "api:1")
		InjectTrace(sctx, &headers)
		_ = ExtractTrace(ctx, m)
		endSpan(span, nil)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per produce with tracing off; want 0", allocs)
	}
}
