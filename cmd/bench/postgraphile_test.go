package main

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPostGraphileLookupChecksTheAnswer: the baseline's op counts only a
// found order of the key it asked for, as graphqlLookup does.
func TestPostGraphileLookupChecksTheAnswer(t *testing.T) {
	users := seedUserIDs()
	for _, c := range []struct {
		name   string
		answer func(ext string) string
		want   string
	}{
		{"found", func(ext string) string {
			return `{"data":{"allOrders":{"nodes":[{"externalId":"` + ext + `","status":"DONE"}]}}}`
		}, ""},
		{"missing", func(string) string { return `{"data":{"allOrders":{"nodes":[]}}}` }, "NOT_FOUND"},
		{"another order", func(string) string { return `{"data":{"allOrders":{"nodes":[{"externalId":"other"}]}}}` }, "NOT_FOUND"},
		{"an error", func(string) string { return `{"errors":[{"message":"boom"}]}` }, "GRAPHQL_ERROR"},
		{"not JSON", func(string) string { return `<html>` }, "BAD_RESPONSE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				var req struct {
					Query     string            `json:"query"`
					Variables map[string]string `json:"variables"`
				}
				if err := json.Unmarshal(b, &req); err != nil || !strings.Contains(req.Query, "allOrders(condition: {externalId: $e, userId: $u}") || req.Variables["u"] == "" {
					t.Errorf("request %s", b)
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, c.answer(req.Variables["e"]))
			}))
			defer srv.Close()
			op := postGraphileLookup(srv.URL, postGraphileLookupQuery("OrderExternalId", "UUID"), srv.Client(), 10, users)
			if got := op(t.Context(), 0, rand.New(rand.NewPCG(1, 2))); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestConditionTypes: the lookup is declared with the types PostGraphile's
// schema gives the condition's fields, e.g. the scalar of a domain column.
func TestConditionTypes(t *testing.T) {
	for _, c := range []struct {
		name, answer      string
		wantExt, wantUser string
		wantErr           bool
	}{
		{"domain", `{"data":{"__type":{"inputFields":[{"name":"id","type":{"name":"Int"}},{"name":"externalId","type":{"name":"OrderExternalId"}},{"name":"userId","type":{"name":"UUID"}}]}}}`, "OrderExternalId", "UUID", false},
		{"text", `{"data":{"__type":{"inputFields":[{"name":"externalId","type":{"name":"String"}},{"name":"userId","type":{"name":"UUID"}}]}}}`, "String", "UUID", false},
		{"no such type", `{"data":{"__type":null}}`, "", "", true},
		{"a field missing", `{"data":{"__type":{"inputFields":[{"name":"externalId","type":{"name":"String"}}]}}}`, "", "", true},
		{"an error", `{"errors":[{"message":"boom"}]}`, "", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if !strings.Contains(string(b), `__type(name: \"OrderCondition\")`) {
					t.Errorf("request %s", b)
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, c.answer)
			}))
			defer srv.Close()
			ext, user, err := conditionTypes(t.Context(), srv.Client(), srv.URL)
			if (err != nil) != c.wantErr || ext != c.wantExt || user != c.wantUser {
				t.Errorf("got %q, %q, %v; want %q, %q, error %v", ext, user, err, c.wantExt, c.wantUser, c.wantErr)
			}
		})
	}
	if q := postGraphileLookupQuery("OrderExternalId", "UUID"); !strings.HasPrefix(q, "query($e: OrderExternalId!, $u: UUID!) {") {
		t.Errorf("query %q", q)
	}
}
