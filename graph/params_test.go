package graph_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orderstream/orderstream/graph"
)

// TestParamsFromBody checks what a POST body turns into, member by member,
// and which message a body that is not a request gets.
func TestParamsFromBody(t *testing.T) {
	type want struct {
		query, op string
		vars, ext map[string]any
		msg       string
	}
	for _, tc := range []struct {
		name string
		body string
		want want
	}{
		{"OK", `{"query": "q", "operationName": "Op", "variables": {"in": {"price": 10.50, "n": [1, "x"]}}, "extensions": {"e": true}}`,
			want{query: "q", op: "Op", vars: map[string]any{"in": map[string]any{"price": json.Number("10.50"), "n": []any{json.Number("1"), "x"}}}, ext: map[string]any{"e": true}}},
		{"Escapes", `{"query": "query {\n  a\u0062 \"x\" }"}`, want{query: "query {\n  ab \"x\" }"}},
		{"NullIsAbsent", `{"query": "q", "operationName": null, "variables": null, "extensions": null}`, want{query: "q"}},
		{"OtherMembersIgnored", `{"id": 7, "query": "q", "more": {"a": [1, {"b": null}]}}`, want{query: "q"}},
		{"LastDuplicateWins", `{"query": "a", "variables": {"x": 1}, "query": "b", "variables": {"y": 2}}`, want{query: "b", vars: map[string]any{"y": json.Number("2")}}},
		{"DuplicateFixesType", `{"query": 1, "query": "b"}`, want{query: "b"}},
		{"NamesAreCaseSensitive", `{"Query": "q"}`, want{msg: "query is required: a string with the GraphQL document"}},
		{"Whitespace", " \n\t{ \"query\" : \"q\" } \n", want{query: "q"}},
		{"APQWithoutQuery", `{"extensions": {"persistedQuery": {"version": 1}}}`, want{ext: map[string]any{"persistedQuery": map[string]any{"version": json.Number("1")}}}},
		{"Empty", ``, want{msg: `the request body is empty: send a JSON object such as {"query": "{ __typename }"}`}},
		{"Batch", `[{"query": "q"}]`, want{msg: "batching is not supported: send one operation per request, as a JSON object"}},
		{"NotAnObject", `"q"`, want{msg: "the request body must be a JSON object"}},
		{"Null", `null`, want{msg: "the request body must be a JSON object"}},
		{"Number", `12`, want{msg: "the request body must be a JSON object"}},
		{"NotJSON", `{"query": "q"`, want{msg: "the request body is not valid JSON"}},
		{"BadValue", `{"query": "q", "variables": {"a": tru}}`, want{msg: "the request body is not valid JSON"}},
		{"BadSkippedValue", `{"query": "q", "other": [1,]}`, want{msg: "the request body is not valid JSON"}},
		{"TypeErrorThenNotJSON", `{"query": 1, "x": }`, want{msg: "the request body is not valid JSON"}},
		{"Trailing", `{"query": "q"} {}`, want{msg: "the request body is not valid JSON: it goes on after the object"}},
		{"QueryNotAString", `{"query": {"a": 1}}`, want{msg: "query must be a string"}},
		{"OperationNameNotAString", `{"query": "q", "operationName": false}`, want{msg: "operationName must be a string"}},
		{"VariablesNotAnObject", `{"query": "q", "variables": ["a"]}`, want{msg: "variables must be an object"}},
		{"ExtensionsNotAnObject", `{"query": "q", "extensions": "e"}`, want{msg: "extensions must be an object"}},
		{"FirstWrongTypeInOrder", `{"extensions": 1, "query": 2}`, want{msg: "query must be a string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, msg := graph.ParamsFromBody(tc.body)
			if msg != tc.want.msg {
				t.Fatalf("message %q; want %q", msg, tc.want.msg)
			}
			if msg != "" {
				return
			}
			if p.Query != tc.want.query || p.OperationName != tc.want.op ||
				!reflect.DeepEqual(p.Variables, tc.want.vars) || !reflect.DeepEqual(p.Extensions, tc.want.ext) {
				t.Errorf("got query %q op %q variables %#v extensions %#v; want %q %q %#v %#v",
					p.Query, p.OperationName, p.Variables, p.Extensions, tc.want.query, tc.want.op, tc.want.vars, tc.want.ext)
			}
		})
	}
}

// BenchmarkParamsFromBody decodes the body of the bench's createOrder.
func BenchmarkParamsFromBody(b *testing.B) {
	body := `{"query":"mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { id status eventId total } } }",` +
		`"variables":{"in":{"externalId":"bench-1765091234-000042","userId":"6f1c2b9e-5a4d-4c3b-9e2f-1a2b3c4d5e6f",` +
		`"items":[{"name":"widget A","quantity":2,"price":"19.99"},{"name":"widget B","quantity":1,"price":"5.25"}]}}}`
	b.ReportAllocs()
	for b.Loop() {
		if _, msg := graph.ParamsFromBody(body); msg != "" {
			b.Fatal(msg)
		}
	}
}
