package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orderstream/orderstream/graph"
)

// TestGraphQLOverHTTP checks status, media type and body of the answers
// the GraphQL-over-HTTP spec and graphql-http's audits care about
// (clients/http-audit.test.mjs runs the audits themselves in e2e).
func TestGraphQLOverHTTP(t *testing.T) {
	wsURL, _ := serve(t, graph.WebsocketOptions{})
	base := "http" + strings.TrimPrefix(wsURL, "ws")
	const (
		js = "application/json"
		gr = "application/graphql-response+json"
	)
	post := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	get := func(params ...string) *http.Request {
		q := url.Values{}
		for i := 0; i < len(params); i += 2 {
			q.Set(params[i], params[i+1])
		}
		r, _ := http.NewRequest(http.MethodGet, base+"?"+q.Encode(), nil)
		return r
	}
	typename := `{"query": "{ __typename }"}`
	for _, tc := range []struct {
		name   string
		req    *http.Request
		accept string
		status int
		media  string // response Content-Type without parameters
		data   bool   // the body has a "data" entry
		code   string // extensions.code of the first error
	}{
		{"NoAccept", post(typename), "", 200, js, true, ""},
		{"AcceptJSON", post(typename), js, 200, js, true, ""},
		{"AcceptGraphQLResponse", post(typename), gr, 200, gr, true, ""},
		{"AcceptAny", post(typename), "*/*", 200, js, true, ""},
		{"AcceptApplicationAny", post(typename), "application/*", 200, js, true, ""},
		{"AcceptApollo", post(typename), gr + "," + js + ";q=0.9", 200, gr, true, ""},
		{"AcceptJSONPreferred", post(typename), gr + ";q=0.5, " + js, 200, js, true, ""},
		{"AcceptBrowser", get("query", "{ __typename }"), "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, js, true, ""},
		{"AcceptXML", post(typename), "application/xml", 406, js, false, "NOT_ACCEPTABLE"},
		{"AcceptXMLOverGET", get("query", "{ __typename }"), "application/xml", 406, js, false, "NOT_ACCEPTABLE"},
		{"AcceptJSONq0", post(typename), js + ";q=0", 406, js, false, "NOT_ACCEPTABLE"},
		{"AcceptLatin1", post(typename), js + ";charset=iso-8859-1", 406, js, false, "NOT_ACCEPTABLE"},

		{"ParseFailureJSON", post(`{"query": "{"}`), js, 200, js, false, "GRAPHQL_PARSE_FAILED"},
		{"ParseFailureGraphQLResponse", post(`{"query": "{"}`), gr, 400, gr, false, "GRAPHQL_PARSE_FAILED"},
		{"ValidationFailureJSON", post(`{"query": "{ nope }"}`), js, 200, js, false, "GRAPHQL_VALIDATION_FAILED"},
		{"ValidationFailureGraphQLResponse", post(`{"query": "{ nope }"}`), gr, 400, gr, false, "GRAPHQL_VALIDATION_FAILED"},
		{"CoercionFailureJSON", post(`{"query": "query($id: ID!) { __typename }", "variables": {"id": null}}`), js, 200, js, false, "GRAPHQL_VALIDATION_FAILED"},
		{"CoercionFailureGraphQLResponse", post(`{"query": "query($id: ID!) { __typename }", "variables": {"id": null}}`), gr, 400, gr, false, "GRAPHQL_VALIDATION_FAILED"},
		{"UnknownOperationName", post(`{"query": "query A { __typename }", "operationName": "B"}`), gr, 400, gr, false, "GRAPHQL_VALIDATION_FAILED"},
		{"APQMissGraphQLResponse", post(`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "` + strings.Repeat("ab", 32) + `"}}}`), gr, 200, gr, false, "PERSISTED_QUERY_NOT_FOUND"},
		{"SubscriptionOverPOST", post(`{"query": "subscription { orderUpdated(externalId: \"o-1\", userId: \"` + user + `\") { status } }"}`), gr, 400, gr, false, "BAD_REQUEST"},

		{"MalformedJSON", post(`{"query": "{ __typename }`), gr, 400, js, false, "BAD_REQUEST"},
		{"TrailingGarbage", post(typename + ` x`), js, 400, js, false, "BAD_REQUEST"},
		{"EmptyBody", post(""), js, 400, js, false, "BAD_REQUEST"},
		{"Batch", post(`[` + typename + `]`), js, 400, js, false, "BAD_REQUEST"},
		{"NotAnObject", post(`"{ __typename }"`), js, 400, js, false, "BAD_REQUEST"},
		{"MissingQuery", post(`{"qeury": "{ __typename }"}`), gr, 400, js, false, "BAD_REQUEST"},
		{"QueryNotAString", post(`{"query": {"obj": "ect"}}`), js, 400, js, false, "BAD_REQUEST"},
		{"OperationNameNotAString", post(`{"query": "{ __typename }", "operationName": false}`), js, 400, js, false, "BAD_REQUEST"},
		{"VariablesNotAnObject", post(`{"query": "{ __typename }", "variables": ["array"]}`), js, 400, js, false, "BAD_REQUEST"},
		{"ExtensionsNotAnObject", post(`{"query": "{ __typename }", "extensions": "string"}`), js, 400, js, false, "BAD_REQUEST"},
		{"NullsAreAbsent", post(`{"query": "{ __typename }", "operationName": null, "variables": null, "extensions": null}`), gr, 200, gr, true, ""},
		{"UnknownMembersIgnored", post(`{"query": "{ __typename }", "documentId": "x"}`), js, 200, js, true, ""},
		{"GETVariablesNotJSON", get("query", "{ __typename }", "variables", "{"), js, 400, js, false, "BAD_REQUEST"},
		{"GETWithoutQuery", get(), js, 400, js, false, "BAD_REQUEST"},
		{"GETVariables", get("query", `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { status } }`, "variables", `{"e": "o-1", "u": "`+user+`"}`), gr, 200, gr, true, ""},
		{"GETMutationJSON", get("query", `mutation { __typename }`), js, 405, js, false, "METHOD_NOT_ALLOWED"},
		{"GETMutationGraphQLResponse", get("query", `mutation { __typename }`), gr, 405, gr, false, "METHOD_NOT_ALLOWED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.accept != "" {
				tc.req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body struct {
				Data   json.RawMessage `json:"data"`
				Errors []struct {
					Extensions map[string]any `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("decode %q: %v", b, err)
			}
			code := ""
			if len(body.Errors) > 0 {
				code, _ = body.Errors[0].Extensions["code"].(string)
			}
			media, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
			if resp.StatusCode != tc.status || media != tc.media || (body.Data != nil) != tc.data || code != tc.code {
				t.Errorf("got %d %s %s; want %d %s, data %v, code %q", resp.StatusCode, resp.Header.Get("Content-Type"), b,
					tc.status, tc.media, tc.data, tc.code)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q; want POST", resp.Header.Get("Allow"))
			}
			if tc.code == "PERSISTED_QUERY_NOT_FOUND" && !strings.Contains(resp.Header.Get("Cache-Control"), "no-cache") {
				t.Errorf("APQ miss with Cache-Control %q; want it uncacheable", resp.Header.Get("Cache-Control"))
			}
		})
	}

	t.Run("OverLimitBodies", func(t *testing.T) {
		big := `{"query": "{ __typename }", "pad": "` + strings.Repeat("a", graph.MaxBodyBytes) + `"}`
		for name, body := range map[string]io.Reader{
			"WithContentLength": strings.NewReader(big),
			"Chunked":           io.MultiReader(strings.NewReader(big)), // no length known: chunked
		} {
			t.Run(name, func(t *testing.T) {
				r, _ := http.NewRequest(http.MethodPost, base, body)
				r.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 413 || !strings.Contains(string(b), `"code":"PAYLOAD_TOO_LARGE"`) {
					t.Errorf("got %d %s; want 413 PAYLOAD_TOO_LARGE", resp.StatusCode, b)
				}
			})
		}
	})

	t.Run("ContentTypes", func(t *testing.T) {
		for ctype, want := range map[string]int{
			"":                                   415,
			"text/plain;charset=UTF-8":           415,
			"application/json; charset=utf-8":    200,
			"application/json; charset=UTF-8":    200,
			"application/json; charset=latin1":   415,
			"application/graphql-response+json":  415,
			"application/x-www-form-urlencoded":  415,
			"multipart/form-data; boundary=abcd": 415,
		} {
			r, _ := http.NewRequest(http.MethodPost, base, strings.NewReader(typename))
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("Content-Type %q: got %d; want %d", ctype, resp.StatusCode, want)
			}
		}
	})
}
