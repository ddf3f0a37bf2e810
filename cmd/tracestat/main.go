// Command tracestat receives OpenTelemetry traces over OTLP/HTTP and, when
// stopped (Ctrl-C or SIGTERM), prints where the time of a createOrder goes:
// the median and 90th percentile of each step of the traces that hold the
// whole order (HTTP request, insert, produce, the worker's processing, the
// ACK), as docs/BENCHMARKS.md quotes them. Point the API and the worker at
// it, for example through the bench, which passes its environment on:
//
//	go run ./cmd/tracestat -addr 127.0.0.1:14318 &
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:14318 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
//	  OTEL_BSP_SCHEDULE_DELAY=200 bin/bench -levels 1 -phases create -duration 6s -rows 20000
//	kill -INT %1
//
// Tracing adds about 0.2 ms to each request.
package main

import (
	"compress/gzip"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is what tracestat keeps of a span.
type span struct {
	name, service, traceID string
	start, end             uint64 // Unix nanoseconds
}

func main() {
	addr := flag.String("addr", "127.0.0.1:4318", "address of the OTLP/HTTP endpoint (POST /v1/traces)")
	flag.Parse()
	var mu sync.Mutex
	var spans []span
	http.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		got, err := decode(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		spans = append(spans, got...)
		mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
	go func() { log.Fatal(http.ListenAndServe(*addr, nil)) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	mu.Lock()
	defer mu.Unlock()
	fmt.Print(report(spans))
}

// decode reads an ExportTraceServiceRequest in protobuf, gzipped or not.
func decode(r *http.Request) ([]span, error) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		return nil, err
	}
	var out []span
	for _, rs := range msg.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				out = append(out, span{name: s.Name, service: service, traceID: hex.EncodeToString(s.TraceId),
					start: s.StartTimeUnixNano, end: s.EndTimeUnixNano})
			}
		}
	}
	return out, nil
}

const (
	api    = "orderstream-api"
	worker = "orderstream-worker"
)

// report groups spans by trace and, over the traces of a whole createOrder,
// gives the median and 90th percentile of each step in milliseconds.
func report(spans []span) string {
	byTrace := map[string][]span{}
	for _, s := range spans {
		byTrace[s.traceID] = append(byTrace[s.traceID], s)
	}
	steps := map[string][]float64{}
	add := func(step string, from, to uint64) { steps[step] = append(steps[step], float64(int64(to-from))/1e6) }
	traces := 0
	for _, ss := range byTrace {
		find := func(service, name string) *span {
			for i := range ss {
				if ss[i].service == service && ss[i].name == name {
					return &ss[i]
				}
			}
			return nil
		}
		root, op, insert := find(api, "POST /graphql"), find(api, "mutation createOrder"), find(api, "InsertOrderWithEvent")
		send, process := find(api, "send orders"), find(worker, "process orders")
		ack, consume := find(worker, "send order-acks"), find(api, "process order-acks")
		if slices.Contains([]*span{root, op, insert, send, process, ack, consume}, nil) {
			continue
		}
		traces++
		add("1 request, whole (API)", root.start, root.end)
		add("2 HTTP until the resolver", root.start, op.start)
		add("3 insert (order + event 0, commit)", insert.start, insert.end)
		add("4 produce the event", send.start, send.end)
		add("5 produce start -> worker starts", send.start, process.start)
		add("6 worker: its processing", process.start, process.end)
		for _, s := range ss {
			if s.service == worker && s.name != "process orders" && s.name != "send order-acks" {
				add("7 worker: "+s.name, s.start, s.end)
			}
		}
		add("8 produce the ACK", ack.start, ack.end)
		add("9 ACK produce start -> API consumes", ack.start, consume.start)
		add("a ACK consumed -> response", consume.end, root.end)
	}
	names := make([]string, 0, len(steps))
	for k := range steps {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d traces of a whole createOrder\n| step | n | p50 | p90 |\n|---|---:|---:|---:|\n", traces)
	for _, k := range names {
		v := steps[k]
		slices.Sort(v)
		fmt.Fprintf(&b, "| %s | %d | %.3f ms | %.3f ms |\n", k[2:], len(v), v[len(v)/2], v[len(v)*9/10])
	}
	return b.String()
}
