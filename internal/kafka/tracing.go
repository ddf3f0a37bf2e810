package kafka

import (
	"context"
	"strconv"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/telemetry"
)

// ProducerHeaders is a propagation.TextMapCarrier over the headers of a
// message to produce: the W3C traceparent (and tracestate) travel in Kafka
// headers from the API to the worker and back.
type ProducerHeaders struct{ Headers *[]sarama.RecordHeader }

var _ propagation.TextMapCarrier = ProducerHeaders{}

// Get returns the value of the header key, or "".
func (c ProducerHeaders) Get(key string) string {
	for _, h := range *c.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set sets the header key to value, replacing an earlier value.
func (c ProducerHeaders) Set(key, value string) {
	for i, h := range *c.Headers {
		if string(h.Key) == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, sarama.RecordHeader{Key: []byte(key), Value: []byte(value)})
}

// Keys returns the header keys.
func (c ProducerHeaders) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, string(h.Key))
	}
	return keys
}

// ConsumerHeaders is a read-only propagation.TextMapCarrier over the
// headers of a consumed message.
type ConsumerHeaders []*sarama.RecordHeader

var _ propagation.TextMapCarrier = ConsumerHeaders(nil)

// Get returns the value of the header key, or "".
func (c ConsumerHeaders) Get(key string) string {
	for _, h := range c {
		if h != nil && string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set does nothing: consumed messages are not changed.
func (c ConsumerHeaders) Set(key, value string) {}

// Keys returns the header keys.
func (c ConsumerHeaders) Keys() []string {
	keys := make([]string, 0, len(c))
	for _, h := range c {
		if h != nil {
			keys = append(keys, string(h.Key))
		}
	}
	return keys
}

// InjectTrace adds the trace context of ctx to headers (W3C traceparent and
// tracestate) with the global propagator; a no-op when tracing is off.
func InjectTrace(ctx context.Context, headers *[]sarama.RecordHeader) {
	if telemetry.Enabled() {
		otel.GetTextMapPropagator().Inject(ctx, ProducerHeaders{Headers: headers})
	}
}

// ExtractTrace returns ctx with the trace context carried in m's headers as
// its remote parent; ctx unchanged when there is none or tracing is off.
func ExtractTrace(ctx context.Context, m *sarama.ConsumerMessage) context.Context {
	if !telemetry.Enabled() {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, ConsumerHeaders(m.Headers))
}

// Span attributes of OrderStream's own: the order an event or ACK is about.
const (
	AttrOrderID   = attribute.Key("orderstream.order.id")
	AttrEventID   = attribute.Key("orderstream.event.id")
	AttrEventType = attribute.Key("orderstream.event.type")
)

// startProducerSpan starts the PRODUCER span "send <topic>" for one message
// about an order; a no-op span when tracing is off.
func startProducerSpan(ctx context.Context, topic string, orderID int64, eventID int, corr string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return ctx, noopSpan
	}
	ctx, span := telemetry.Start(ctx, "send "+topic, append(opts, trace.WithSpanKind(trace.SpanKindProducer))...)
	if span.IsRecording() {
		span.SetAttributes(messagingAttrs(topic, "send", orderID, eventID, corr)...)
	}
	return ctx, span
}

func messagingAttrs(topic, op string, orderID int64, eventID int, corr string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.kafka.message.key", strconv.FormatInt(orderID, 10)),
		AttrOrderID.Int64(orderID),
		AttrEventID.Int(eventID),
	}
	if corr != "" {
		attrs = append(attrs, attribute.String("messaging.message.conversation_id", corr))
	}
	return attrs
}

// endSpan ends span, marking it failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// noopSpan is what instrumentation returns when tracing is off.
var noopSpan = trace.SpanFromContext(context.Background())
