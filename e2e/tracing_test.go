package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// span is a span as the OTLP receiver got it.
type span struct {
	service, name, kind       string
	traceID, spanID, parentID string
	attrs                     map[string]string
	links                     []string // "traceID/spanID"
	start, end                uint64
}

// otlpReceiver is an OTLP/HTTP trace endpoint: POST /v1/traces with an
// ExportTraceServiceRequest in protobuf, as the SDK's exporter sends it.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
			http.NotFound(w, req)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		var msg coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &msg)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&msg)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

func attrString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	default:
		return fmt.Sprint(v.GetValue())
	}
}

func (r *otlpReceiver) add(msg *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range msg.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = attrString(a.Value)
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := span{service: service, name: s.Name, kind: strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"),
					traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId),
					parentID: hex.EncodeToString(s.ParentSpanId), attrs: map[string]string{},
					start: s.StartTimeUnixNano, end: s.EndTimeUnixNano}
				for _, a := range s.Attributes {
					sp.attrs[a.Key] = attrString(a.Value)
				}
				for _, l := range s.Links {
					sp.links = append(sp.links, hex.EncodeToString(l.TraceId)+"/"+hex.EncodeToString(l.SpanId))
				}
				r.spans = append(r.spans, sp)
			}
		}
	}
}

// trace returns the spans of traceID received so far.
func (r *otlpReceiver) trace(traceID string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.traceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// tree renders spans as an indented tree by parent, children by start time.
func tree(spans []span, root string) string {
	children := map[string][]span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.spanID] = true
	}
	for _, s := range spans {
		p := s.parentID
		if !ids[p] {
			p = root
		}
		children[p] = append(children[p], s)
	}
	var b strings.Builder
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		kids := children[id]
		sort.Slice(kids, func(i, j int) bool { return kids[i].start < kids[j].start })
		for _, s := range kids {
			extra := ""
			for _, k := range [][2]string{{"orderstream.order.id", "order"}, {"orderstream.event.id", "event"},
				{"messaging.message.conversation_id", "correlation"}, {"http.response.status_code", "status"}} {
				if v, ok := s.attrs[k[0]]; ok {
					extra += fmt.Sprintf(" %s=%s", k[1], v)
				}
			}
			fmt.Fprintf(&b, "%s%-*s %-8s %-18s %6.2f ms%s\n", strings.Repeat("  ", depth), 40-2*depth, s.name, s.kind, s.service,
				float64(s.end-s.start)/1e6, extra)
			walk(s.spanID, depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

// TestTracing runs both binaries with tracing on, pointed at an in-test
// OTLP receiver, sends a createOrder with a client traceparent, and checks
// that one trace holds the whole order: the HTTP request, the GraphQL
// operation, the database insert and the produce in the API; the consume,
// the database work and the ACK produce in the worker; the ACK consume back
// in the API, each the child of the one before. It also checks the logs:
// the request id and trace id on the lines of the request, and neither the
// bearer token nor the items in any line.
func TestTracing(t *testing.T) {
	rcv := newOTLPReceiver(t)
	e := newInfra(t,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_TRACES_SAMPLER=parentbased_always_on",
	)
	e.startWorker()
	base, api := e.startAPI("api")

	traceID := strings.ReplaceAll(uuid.NewString(), "-", "")
	clientSpan := traceID[:16]
	requestID := "e2e-" + uuid.NewString()
	const secretItem, token = "Secret-Item-Name-9d1c", "not-a-real-token-5c2e"
	body, _ := json.Marshal(map[string]any{
		"query": `mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { id status } } }`,
		"variables": map[string]any{"in": map[string]any{"externalId": "traced-1", "userId": uuid.NewString(),
			"items": []any{map[string]any{"name": secretItem, "quantity": 1, "price": "5.00"}}}},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+traceID+"-"+clientSpan+"-01")
	req.Header.Set("X-Request-ID", requestID)
	req.Header.Set("Authorization", "Bearer "+token) // AUTH_DISABLED: unchecked, but must not be logged
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"DONE"`) {
		t.Fatalf("createOrder: %d %s; want 200 and DONE", resp.StatusCode, b)
	}
	if got := resp.Header.Get("X-Request-ID"); got != requestID {
		t.Errorf("X-Request-ID in the response = %q; want %q", got, requestID)
	}

	// The spans arrive in batches from two processes: wait until the whole
	// chain is there (the ACK consume span is the last to end).
	acksName := "process " + topicOf(e, "KAFKA_ACKS_TOPIC")
	ordersTopic := topicOf(e, "KAFKA_ORDERS_TOPIC")
	var spans []span
	deadline := time.Now().Add(60 * time.Second)
	for {
		spans = rcv.trace(traceID)
		if find(spans, "orderstream-api", acksName) != nil && find(spans, "orderstream-worker", "send "+topicOf(e, "KAFKA_ACKS_TOPIC")) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace is incomplete after 60 s:\n%s", tree(spans, clientSpan))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The DB spans of the worker end before its ACK is sent: all are in.
	t.Logf("trace %s:\n%s", traceID, tree(spans, clientSpan))

	// Each step is the child of the one before, across both services.
	chain := []struct{ service, name, kind string }{
		{"orderstream-api", "POST /graphql", "SERVER"},
		{"orderstream-api", "mutation createOrder", "INTERNAL"},
		{"orderstream-api", "send " + ordersTopic, "PRODUCER"},
		{"orderstream-worker", "process " + ordersTopic, "CONSUMER"},
		{"orderstream-worker", "send " + topicOf(e, "KAFKA_ACKS_TOPIC"), "PRODUCER"},
		{"orderstream-api", acksName, "CONSUMER"},
	}
	parent := clientSpan
	for _, c := range chain {
		s := find(spans, c.service, c.name)
		if s == nil {
			t.Fatalf("no span %q from %s in the trace", c.name, c.service)
		}
		if s.kind != c.kind || s.parentID != parent {
			t.Errorf("span %q: kind %s, parent %s; want kind %s, parent %s", c.name, s.kind, s.parentID, c.kind, parent)
		}
		parent = s.spanID
	}
	op := find(spans, "orderstream-api", "mutation createOrder")
	consume := find(spans, "orderstream-worker", "process "+ordersTopic)
	if s := find(spans, "orderstream-api", "InsertOrderWithEvent"); s == nil || s.parentID != op.spanID || s.attrs["db.system.name"] != "postgresql" {
		t.Errorf("API database insert span: %+v; want InsertOrderWithEvent, a child of the operation", s)
	}
	workerDB := 0
	for _, s := range spans {
		if s.service == "orderstream-worker" && s.kind == "CLIENT" && s.attrs["db.system.name"] == "postgresql" {
			workerDB++
			if s.parentID != consume.spanID {
				t.Errorf("worker database span %q has parent %s; want the consume span %s", s.name, s.parentID, consume.spanID)
			}
		}
	}
	if workerDB == 0 {
		t.Error("no database span from the worker in the trace")
	}
	if consume.attrs["orderstream.order.id"] == "" || consume.attrs["messaging.message.conversation_id"] == "" {
		t.Errorf("consume span attributes %v; want the order id and the correlation id", consume.attrs)
	}

	// Logs: the lines of the request carry its request id and trace id;
	// nothing carries the token or the items.
	out := api.output()
	found := false
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["request_id"] == requestID && m["msg"] == "event sent" {
			found = true
			if m["trace_id"] != traceID || m["order_id"] == nil || m["correlation_id"] == nil {
				t.Errorf("log line %s; want trace_id %s, order_id and correlation_id", line, traceID)
			}
		}
	}
	if !found {
		t.Errorf("no \"event sent\" log line with request_id %s in the API output", requestID)
	}
	for name, o := range map[string]string{"api": out, "worker": e.worker.output()} {
		if strings.Contains(o, token) || strings.Contains(o, secretItem) {
			t.Errorf("the %s logged the bearer token or the order's items", name)
		}
	}
}

func find(spans []span, service, name string) *span {
	for i := range spans {
		if spans[i].service == service && spans[i].name == name {
			return &spans[i]
		}
	}
	return nil
}

// topicOf returns the value of an environment variable given to the binaries.
func topicOf(e *env, key string) string {
	for _, kv := range e.common {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
