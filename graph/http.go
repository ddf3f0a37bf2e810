package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The response media types of GraphQL over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// Codes of the errors about the HTTP request itself (docs/API.md, "Errors").
const (
	codeBadRequest       = "BAD_REQUEST"
	codeNotAcceptable    = "NOT_ACCEPTABLE"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeTooLarge         = "PAYLOAD_TOO_LARGE"
	codeMediaType        = "UNSUPPORTED_MEDIA_TYPE"
	codePQNotFound       = "PERSISTED_QUERY_NOT_FOUND"
)

// httpTransport serves GraphQL over HTTP GET and POST as the
// GraphQL-over-HTTP spec (graphql/graphql-over-http) says and the audits of
// the npm package graphql-http check (clients/http-audit.test.mjs):
//
//   - The response media type follows Accept: application/graphql-response+json
//     when it is preferred, application/json when it is preferred, listed
//     alone, or only allowed by a wildcard, or when Accept is missing; 406
//     when Accept allows neither.
//   - A request that is not well formed (not JSON, a JSON array: batching,
//     query missing or not a string, variables or extensions not an object)
//     is 400 BAD_REQUEST, an over-limit body 413 PAYLOAD_TOO_LARGE.
//   - A request error (the document does not parse or validate, variables
//     do not coerce, a query limit is hit) has no "data" entry. Its status
//     is 200 with application/json (what legacy clients expect) and 400 with
//     application/graphql-response+json. PERSISTED_QUERY_NOT_FOUND stays 200
//     with either, as Apollo's automatic persisted queries define it, and is
//     marked uncacheable.
//   - A mutation over GET is 405 METHOD_NOT_ALLOWED with Allow: POST.
//   - An executed operation is 200, field errors or not.
//
// It replaces gqlgen's transport.GET and transport.POST, which answer 422
// for request errors with application/json, always write "data": null,
// never answer 406, and give a mutation over GET 406 without a code.
type httpTransport struct{}

var _ graphql.Transport = httpTransport{}

func (httpTransport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && (r.Method == http.MethodGet || r.Method == http.MethodPost)
}

func (httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media, ok := negotiate(r.Header.Values("Accept"))
	if !ok {
		writeError(w, http.StatusNotAcceptable, codeNotAcceptable,
			"Accept must allow application/graphql-response+json or application/json")
		return
	}
	start := graphql.Now()
	var params *graphql.RawParams
	var bad *badRequest
	if r.Method == http.MethodGet {
		params, bad = paramsFromURL(r.URL.RawQuery)
	} else {
		params, bad = paramsFromBody(r.Body)
	}
	if bad != nil {
		writeError(w, bad.status, bad.code, bad.msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		writeResponse(w, media, requestErrorStatus(w, media, resp.Errors), resp)
		return
	}
	if r.Method == http.MethodGet && oc.Operation.Operation == ast.Mutation {
		w.Header().Set("Allow", http.MethodPost)
		writeResponse(w, media, http.StatusMethodNotAllowed, &graphql.Response{Errors: gqlerror.List{{
			Message:    "mutations are not allowed over GET: send them with POST",
			Extensions: map[string]any{"code": codeMethodNotAllowed},
		}}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	resp := responses(ctx)
	if resp == nil {
		resp = &graphql.Response{Data: json.RawMessage("null")}
	}
	status := http.StatusOK
	if len(resp.Data) == 0 { // refused before execution (a subscription over HTTP, …)
		status = requestErrorStatus(w, media, resp.Errors)
	}
	writeResponse(w, media, status, resp)
}

// negotiate picks the response media type from the Accept header values
// (RFC 9110 12.5.1: the highest quality wins; a media type named exactly
// beats a wildcard of the same quality). ok is false when Accept is present
// and allows neither type: the caller answers 406.
func negotiate(accept []string) (media string, ok bool) {
	if len(accept) == 0 {
		return mediaJSON, true
	}
	// q of each candidate, from its most specific matching range: 3 exact,
	// 2 application/*, 1 */*.
	type match struct {
		q           float64
		specificity int
		order       int
	}
	var best [2]match // mediaGraphQLResponse, mediaJSON
	candidates := [2]string{mediaGraphQLResponse, mediaJSON}
	order := 0
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
				continue // we only write UTF-8
			}
			order++
			for i, c := range candidates {
				spec := 0
				switch mt {
				case c:
					spec = 3
				case "application/*":
					spec = 2
				case "*/*":
					spec = 1
				}
				if spec > best[i].specificity {
					best[i] = match{q: q, specificity: spec, order: order}
				}
			}
		}
	}
	gr, js := best[0], best[1]
	switch {
	case gr.specificity == 0 && js.specificity == 0, gr.q <= 0 && js.q <= 0:
		return "", false
	case gr.q != js.q:
		if gr.q > js.q {
			return mediaGraphQLResponse, true
		}
		return mediaJSON, true
	case gr.specificity == 3 && (js.specificity < 3 || gr.order < js.order):
		// Named, and first or the only one named: the client's preference.
		return mediaGraphQLResponse, true
	default:
		// Both named and JSON first, or both by a wildcard: legacy clients
		// (and graphql-http's audit for */*) expect application/json.
		return mediaJSON, true
	}
}

// badRequest is a request that is not a well-formed GraphQL-over-HTTP request.
type badRequest struct {
	status    int
	code, msg string
}

func bad(msg string) *badRequest {
	return &badRequest{status: http.StatusBadRequest, code: codeBadRequest, msg: msg}
}

// paramsFromURL reads the parameters of a GET: query, operationName, and
// variables and extensions as JSON (the empty string is no value).
func paramsFromURL(rawQuery string) (*graphql.RawParams, *badRequest) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, bad("the URL query string is not valid application/x-www-form-urlencoded")
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if p.Variables, err = jsonObject(q.Get("variables")); err != nil {
		return nil, bad("variables must be a JSON object")
	}
	if p.Extensions, err = jsonObject(q.Get("extensions")); err != nil {
		return nil, bad("extensions must be a JSON object")
	}
	return p, needQuery(p)
}

// paramsFromBody reads a POST body: one JSON object with query (a string),
// and optional operationName (a string), variables and extensions
// (objects); null is the same as absent, other members are ignored.
func paramsFromBody(body io.Reader) (*graphql.RawParams, *badRequest) {
	b, err := io.ReadAll(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &badRequest{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
				msg: fmt.Sprintf("the request body must be at most %d bytes", MaxBodyBytes)}
		}
		return nil, bad("the request body could not be read")
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, bad(`the request body is empty: send a JSON object such as {"query": "{ __typename }"}`)
	case trimmed[0] == '[':
		return nil, bad("batching is not supported: send one operation per request, as a JSON object")
	}
	// One pass over the body: each member is decoded where it stands
	// (query, operationName, variables, extensions; others are skipped),
	// instead of splitting the body into raw members and decoding those
	// again. A member of the wrong type is reported only once the whole
	// body has parsed as JSON, as a body that is not JSON at all says so.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()                                      // variables and extensions: a Decimal never becomes a float
	notJSON := bad("the request body is not valid JSON") // never the body itself: it may hold a token
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' { // a string, number, true, false or null
		return nil, bad("the request body must be a JSON object")
	}
	p := &graphql.RawParams{}
	var wrongType [4]bool // query, operationName, variables, extensions
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON
		}
		name, _ := tok.(string)
		var into any
		var member int
		var query, operation *string
		switch name {
		case "query":
			into, member = &query, 0
		case "operationName":
			into, member = &operation, 1
		case "variables":
			p.Variables = nil
			into, member = &p.Variables, 2
		case "extensions":
			p.Extensions = nil
			into, member = &p.Extensions, 3
		default:
			into, member = new(json.RawMessage), -1
		}
		err = dec.Decode(into)
		if _, isType := errors.AsType[*json.UnmarshalTypeError](err); isType && member >= 0 {
			wrongType[member] = true // the value was read whole: go on
		} else if err != nil {
			return nil, notJSON
		} else if member >= 0 {
			wrongType[member] = false // the last of duplicate members counts
		}
		switch member {
		case 0:
			p.Query = deref(query)
		case 1:
			p.OperationName = deref(operation)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("the request body is not valid JSON: it goes on after the object")
	}
	for i, msg := range [4]string{"query must be a string", "operationName must be a string", "variables must be an object", "extensions must be an object"} {
		if wrongType[i] {
			return nil, bad(msg)
		}
	}
	return p, needQuery(p)
}

// needQuery refuses a request without a query, unless it is an automatic
// persisted query (the APQ extension then finds the query by its hash).
func needQuery(p *graphql.RawParams) *badRequest {
	if p.Query != "" {
		return nil
	}
	if _, apq := p.Extensions["persistedQuery"]; apq {
		return nil
	}
	return bad("query is required: a string with the GraphQL document")
}

// jsonString decodes an optional JSON string (absent or null: "").
func jsonString(raw json.RawMessage) (string, error) {
	var s *string
	if len(raw) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// jsonObject decodes an optional JSON object (absent, empty or null: nil)
// with numbers kept exact (json.Number): a Decimal variable never becomes a
// float on its way in.
func jsonObject(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return m, nil
}

// requestErrorStatus is the status of a response without data: a request
// error. See httpTransport.
func requestErrorStatus(w http.ResponseWriter, media string, errs gqlerror.List) int {
	code := ""
	if len(errs) > 0 {
		code, _ = errs[0].Extensions["code"].(string)
	}
	if code == codePQNotFound {
		// The automatic persisted query protocol: the client sends the
		// query next. A cache must not keep this answer for the hash.
		w.Header().Set("Cache-Control", "private, no-cache, must-revalidate")
		return http.StatusOK
	}
	if media == mediaJSON {
		return http.StatusOK
	}
	switch code {
	case "INTERNAL_SERVER_ERROR":
		return http.StatusInternalServerError
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "RATE_LIMITED":
		return http.StatusTooManyRequests
	default:
		return http.StatusBadRequest
	}
}

// wireResponse is graphql.Response as it goes out: without "data" when
// there is none (a request error), as the GraphQL spec says; gqlgen's
// Response always writes "data": null.
type wireResponse struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Label      string          `json:"label,omitempty"`
	Path       ast.Path        `json:"path,omitempty"`
	HasNext    *bool           `json:"hasNext,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

func marshalResponse(r *graphql.Response) ([]byte, error) {
	return json.Marshal(wireResponse{Errors: r.Errors, Data: r.Data, Label: r.Label, Path: r.Path,
		HasNext: r.HasNext, Extensions: r.Extensions})
}

// writeResponse writes a GraphQL response as media with status.
func writeResponse(w http.ResponseWriter, media string, status int, r *graphql.Response) {
	b, err := marshalResponse(r)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error")
		return
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
