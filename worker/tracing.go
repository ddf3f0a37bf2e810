package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// startBatchSpan starts the CONSUMER span "process <topic>" around the
// work on a batch: the database statements and the ACK produce are its
// children. A batch holds the events of many orders, each from its own
// trace:
//
//   - a batch of one event is processed as part of that order's trace: the
//     span is a child of the trace context in the event's headers (the
//     API's produce span);
//   - a batch of several starts a trace of its own, with a link to each
//     event's trace context; each ACK's produce span then goes back into
//     its order's trace, with a link to the batch (kafka.Replier.ReplyMany).
//
// Off, it returns ctx and a no-op span.
func startBatchSpan(ctx context.Context, items []item) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	first := items[0].m
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.destination.name", first.Topic),
		attribute.String("messaging.operation.type", "process"),
		attribute.Int("messaging.batch.message_count", len(items)),
	)}
	// A merged batch spans partitions: a partition and an offset range
	// only describe a batch of one partition.
	if onePartition(items) {
		opts = append(opts, trace.WithAttributes(
			attribute.Int("messaging.destination.partition.id", int(first.Partition)),
			attribute.String("orderstream.offsets", fmt.Sprintf("%d-%d", first.Offset, items[len(items)-1].m.Offset))))
	}
	if len(items) == 1 {
		it := items[0]
		ctx = kafka.ExtractTrace(ctx, it.m)
		opts = append(opts, trace.WithAttributes(
			kafka.AttrOrderID.Int64(it.key.OrderID), kafka.AttrEventID.Int(it.key.EventID),
			attribute.String("messaging.message.conversation_id", kafka.Header(it.m, kafka.HeaderCorrelationID)),
			attribute.Int64("messaging.kafka.offset", it.m.Offset)))
	} else {
		links := make([]trace.Link, 0, len(items))
		for _, it := range items {
			sc := trace.SpanContextFromContext(kafka.ExtractTrace(context.Background(), it.m))
			if sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
					kafka.AttrOrderID.Int64(it.key.OrderID), kafka.AttrEventID.Int(it.key.EventID)}})
			}
		}
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(links...))
	}
	return telemetry.Start(ctx, "process "+first.Topic, opts...)
}

func onePartition(items []item) bool {
	for _, it := range items[1:] {
		if it.m.Partition != items[0].m.Partition {
			return false
		}
	}
	return true
}
