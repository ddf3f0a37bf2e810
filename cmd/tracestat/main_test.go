package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	ms := uint64(1_000_000)
	order := func(id string, shift uint64) []span {
		at := func(service, name string, from, to uint64) span {
			return span{name: name, service: service, traceID: id, start: (shift + from) * ms / 10, end: (shift + to) * ms / 10}
		}
		// Times in tenths of a millisecond.
		return []span{
			at(api, "POST /graphql", 0, 40),
			at(api, "mutation createOrder", 1, 39),
			at(api, "InsertOrderWithEvent", 2, 8),
			at(api, "send orders", 8, 11),
			at(worker, "process orders", 12, 32),
			at(worker, "SaveApplied+NotifyStatus", 20, 27),
			at(worker, "send order-acks", 29, 32),
			at(api, "process order-acks", 33, 34),
		}
	}
	spans := append(order("a", 0), order("b", 1000)...)
	spans = append(spans, span{name: "POST /graphql", service: api, traceID: "partial", end: ms}) // not a whole order
	got := report(spans)
	for _, want := range []string{
		"2 traces of a whole createOrder",
		"| request, whole (API) | 2 | 4.000 ms |",
		"| insert (order + event 0, commit) | 2 | 0.600 ms |",
		"| produce start -> worker starts | 2 | 0.400 ms |",
		"| worker: SaveApplied+NotifyStatus | 2 | 0.700 ms |",
		"| ACK consumed -> response | 2 | 0.600 ms |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
