// Package openapitest checks HTTP exchanges against an OpenAPI document
// with kin-openapi (openapi3filter), for the tests of the REST mirror: the
// in-process handler tests (internal/rest) and the end-to-end tests
// against the real binaries (e2e). A Validator also records which
// documented statuses it has seen, so that a test can require every one.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator checks exchanges against one document.
type Validator struct {
	Doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // "POST /orders 201"
}

// New loads doc, fails t unless it is a valid OpenAPI document, and
// returns its Validator.
func New(t testing.TB, doc []byte) *Validator {
	t.Helper()
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := d.Validate(loader.Context, openapi3.EnableSchemaPatternValidation(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	r, err := gorillamux.NewRouter(d)
	if err != nil {
		t.Fatalf("route the OpenAPI document: %v", err)
	}
	return &Validator{Doc: d, router: r, seen: map[string]bool{}}
}

// Exchange is one request and the answer to it.
type Exchange struct {
	Request     *http.Request // its Body is not read: RequestBody is
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Check validates the answer of x against the operation the document
// gives for x.Request: a documented status, its headers (the required
// ones present), its content type and its body. With validRequest, the request must conform too (a
// test that sends invalid input on purpose passes false).
func (v *Validator) Check(x Exchange, validRequest bool) error {
	ctx := context.Background()
	req := x.Request.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: not a documented operation: %w", req.Method, req.URL.Path, err)
	}
	auth := func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: auth, MultiError: true}}
	if validRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("%s %s: the request does not conform: %w", req.Method, req.URL, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.Header,
		Body: io.NopCloser(bytes.NewReader(x.Body)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s %s: answer %d %s does not conform: %w", req.Method, req.URL, x.Status, x.Body, err)
	}
	v.mu.Lock()
	v.seen[route.Method+" "+route.Path+" "+strconv.Itoa(x.Status)] = true
	v.mu.Unlock()
	return nil
}

// CheckSchema validates a JSON body against the document's
// components/schemas/name, for answers outside documented operations
// (unknown routes and methods).
func (v *Validator) CheckSchema(name string, body []byte) error {
	s := v.Doc.Components.Schemas[name]
	if s == nil || s.Value == nil {
		return fmt.Errorf("no schema %s in the document", name)
	}
	var val any
	if err := json.Unmarshal(body, &val); err != nil {
		return fmt.Errorf("not JSON: %q: %w", body, err)
	}
	if err := s.Value.VisitJSON(val, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("%q is not a %s: %w", body, name, err)
	}
	return nil
}

// Operations returns the documented operations, "METHOD /path", sorted.
func (v *Validator) Operations() []string {
	var out []string
	for path, item := range v.Doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// Unseen returns the documented "METHOD /path status" that no successful
// Check has seen, except those of skip (statuses, e.g. "500", that cannot
// be caused on purpose).
func (v *Validator) Unseen(skip ...string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, op := range v.Operations() {
		method, path, _ := strings.Cut(op, " ")
		for status := range v.Doc.Paths.Value(path).GetOperation(method).Responses.Map() {
			if !v.seen[op+" "+status] && !slices.Contains(skip, status) {
				out = append(out, op+" "+status)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ErrNotJSON is returned by ErrorOf for a body that is not JSON.
var ErrNotJSON = errors.New("not JSON")

// ErrorOf returns error.code and error.field of a REST error body.
func ErrorOf(body []byte) (code, field string, err error) {
	var b struct {
		Error struct{ Code, Field string } `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return "", "", fmt.Errorf("%w: %q", ErrNotJSON, body)
	}
	return b.Error.Code, b.Error.Field, nil
}
