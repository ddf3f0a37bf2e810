package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/internal/telemetry"
)

// TestBatchTracing processes a batch of two events from two traces and
// checks the batch rule of docs/OBSERVABILITY.md: the processing span is a
// root linked to both events' contexts, the database spans are its
// children, and each ACK's produce span is back in its own order's trace,
// linked to the batch, with that context in the ACK's headers.
func TestBatchTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	telemetry.Use(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { telemetry.Use(nil) })

	pool, err := postgres.Open(context.Background(), pgtest.NewDB(t), 4, postgres.WithTracing())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	b := kafkatest.New(t)
	replier, err := kafka.NewReplier(b.Brokers, nil, b.AcksTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replier.Close() })

	var items []item
	var parents []trace.SpanContext
	for i := range 2 {
		in := order.CreateInput{ExternalID: fmt.Sprintf("traced-%d", i), UserID: uuid.NewString(), Items: oneItem()}
		_, ev, _, err := store.CreateOrder(context.Background(), in, 100)
		if err != nil {
			t.Fatal(err)
		}
		value, _ := kafka.EncodeEvent(ev)
		tid, sid := trace.TraceID(uuid.New()), trace.SpanID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8}
		parents = append(parents, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
		items = append(items, item{key: order.EventKey{OrderID: ev.OrderID, EventID: ev.EventID}, m: &sarama.ConsumerMessage{Topic: b.OrdersTopic, Offset: int64(i), Value: value,
			Headers: []*sarama.RecordHeader{
				{Key: []byte("traceparent"), Value: []byte(fmt.Sprintf("00-%s-%s-01", tid, sid))},
				{Key: []byte(kafka.HeaderCorrelationID), Value: []byte(fmt.Sprintf("api:%d", i))},
				{Key: []byte(kafka.HeaderReplyTopic), Value: []byte(b.AcksTopic)},
				{Key: []byte(kafka.HeaderReplyPartition), Value: []byte("0")},
			}}})
	}
	h := &handler{store: &order.Processor{Store: store}, replier: replier, log: testLogger()}
	if err := h.process(context.Background(), items); err != nil {
		t.Fatal(err)
	}

	spans := exp.GetSpans()
	var batch *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "process "+b.OrdersTopic {
			batch = &spans[i]
		}
	}
	if batch == nil {
		t.Fatalf("no batch span among %d spans", len(spans))
	}
	if batch.Parent.IsValid() || len(batch.Links) != 2 ||
		!batch.Links[0].SpanContext.Equal(parents[0].WithRemote(true)) || !batch.Links[1].SpanContext.Equal(parents[1].WithRemote(true)) {
		t.Errorf("batch span: parent %v, links %v; want a root linked to both events", batch.Parent, batch.Links)
	}
	db, acks := 0, map[string]bool{}
	for _, s := range spans {
		switch {
		case s.SpanKind == trace.SpanKindClient:
			db++
			if s.Parent.SpanID() != batch.SpanContext.SpanID() {
				t.Errorf("database span %q is not a child of the batch", s.Name)
			}
		case s.Name == "send "+b.AcksTopic:
			acks[s.SpanContext.TraceID().String()] = true
			i := 0
			if s.Parent.TraceID() == parents[1].TraceID() {
				i = 1
			}
			if s.Parent.SpanID() != parents[i].SpanID() || len(s.Links) != 1 || s.Links[0].SpanContext.SpanID() != batch.SpanContext.SpanID() {
				t.Errorf("ACK span: parent %v, links %v; want the event's context and a link to the batch", s.Parent, s.Links)
			}
		}
	}
	if db == 0 || len(acks) != 2 {
		t.Fatalf("%d database spans and ACK spans in traces %v; want some, and one ACK in each order's trace", db, acks)
	}

	// The ACKs carry their order's trace context to the API.
	c, err := sarama.NewConsumer(b.Brokers, kafka.NewConfig("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(b.AcksTopic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range 2 {
		select {
		case m := <-pc.Messages():
			sc := trace.SpanContextFromContext(kafka.ExtractTrace(context.Background(), m))
			if !acks[sc.TraceID().String()] {
				t.Errorf("ACK %s carries trace %s; want one of the orders' traces", kafka.Header(m, kafka.HeaderCorrelationID), sc.TraceID())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no ACK within 30 s")
		}
	}
}

func oneItem() []order.Item {
	p, _ := order.ParseDecimal("1.00")
	return []order.Item{{Name: "A", Quantity: 1, Price: p}}
}
