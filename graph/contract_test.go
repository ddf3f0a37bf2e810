package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orderstream/orderstream/internal/order"
)

// loadSDL parses the published schema, graph/*.graphqls, as partners get it.
func loadSDL(t *testing.T) *ast.Schema {
	t.Helper()
	files, err := filepath.Glob("*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	s, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatal(gerr)
	}
	return s
}

// TestSchemaDescriptions: every type, field, argument, input field and
// enum value of the SDL has a description, so that introspection-driven
// tools (GraphiQL, codegen, Postman) document the whole API.
func TestSchemaDescriptions(t *testing.T) {
	missing := undescribed(loadSDL(t))
	for _, m := range missing {
		t.Errorf("no description: %s", m)
	}
}

// undescribed lists the definitions of s's own (not built-in) types and
// directives that have no description.
func undescribed(s *ast.Schema) []string {
	var out []string
	need := func(desc, what string) {
		if strings.TrimSpace(desc) == "" {
			out = append(out, what)
		}
	}
	args := func(owner string, as ast.ArgumentDefinitionList) {
		for _, a := range as {
			need(a.Description, owner+"("+a.Name+":)")
		}
	}
	for name, d := range s.Types {
		if d.BuiltIn {
			continue
		}
		need(d.Description, "type "+name)
		for _, f := range d.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // __schema and __type, added by the parser
			}
			need(f.Description, name+"."+f.Name)
			args(name+"."+f.Name, f.Arguments)
		}
		for _, v := range d.EnumValues {
			need(v.Description, name+"."+v.Name)
		}
	}
	for name, d := range s.Directives {
		if d.Position != nil && d.Position.Src != nil && d.Position.Src.BuiltIn {
			continue
		}
		need(d.Description, "directive @"+name)
		args("@"+name, d.Arguments)
	}
	slices.Sort(out)
	return out
}

// TestUndescribedFindsGaps: the description check fails where it should.
func TestUndescribedFindsGaps(t *testing.T) {
	s := gqlparser.MustLoadSchema(&ast.Source{Name: "t.graphqls", Input: `
		"Q" type Query { "f" f(a: Int, "b" b: Int): E, g: Int }
		enum E { "X" X, Y }
		input I { "x" x: Int, y: Int }
		directive @d(n: Int) on FIELD_DEFINITION`})
	want := []string{"@d(n:)", "E.Y", "I.y", "Query.f(a:)", "Query.g", "directive @d", "type E", "type I"}
	if got := undescribed(s); !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}
}

// post sends one GraphQL request to a handler without a store: enough
// for introspection and validation, which never reach a resolver.
func post(t *testing.T, h http.Handler, query string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return rec.Code, m
}

func introspectionHandler() http.Handler {
	return NewHandler(order.NewService(nil, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), nil, Options{Introspection: true})
}

// TestSpecifiedBy: the custom scalars say where their format is specified,
// in the SDL and in introspection.
func TestSpecifiedBy(t *testing.T) {
	want := map[string]string{
		"Decimal": "https://github.com/orderstream/orderstream/blob/main/docs/DECIMAL.md",
		"Time":    "https://www.rfc-editor.org/rfc/rfc3339",
	}
	s := loadSDL(t)
	h := introspectionHandler()
	for name, url := range want {
		d := s.Types[name].Directives.ForName("specifiedBy")
		if d == nil || d.Arguments.ForName("url") == nil || d.Arguments.ForName("url").Value.Raw != url {
			t.Errorf("SDL: scalar %s: got @specifiedBy %v; want url %q", name, d, url)
		}
		_, resp := post(t, h, `{ __type(name: "`+name+`") { specifiedByURL } }`)
		data, _ := resp["data"].(map[string]any)
		typ, _ := data["__type"].(map[string]any)
		if typ == nil || typ["specifiedByURL"] != url {
			t.Errorf("introspection: %s: got %v; want specifiedByURL %q", name, resp, url)
		}
	}
}

// TestDeferNotOffered: @defer is neither advertised nor accepted (see
// defer.go): introspection does not list it and a query using it is
// refused, before anything runs.
func TestDeferNotOffered(t *testing.T) {
	h := introspectionHandler()
	_, resp := post(t, h, `{ __schema { directives { name } } }`)
	b, _ := json.Marshal(resp)
	for _, name := range []string{`"include"`, `"skip"`, `"deprecated"`, `"specifiedBy"`} {
		if !strings.Contains(string(b), name) {
			t.Errorf("introspection lacks %s: %s", name, b)
		}
	}
	if strings.Contains(string(b), `"defer"`) {
		t.Errorf("introspection lists @defer: %s", b)
	}
	status, resp := post(t, h, `query { order(id: "1", userId: "6d1e5e8a-0c7e-4a55-9a44-7c2b57f4e2a1") { id ... @defer { total } } }`)
	errs, _ := resp["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("@defer: got %d %v; want one error", status, resp)
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, `Unknown directive "@defer"`) || ext["code"] != "GRAPHQL_VALIDATION_FAILED" || resp["data"] != nil {
		t.Errorf("@defer: got %d %v; want GRAPHQL_VALIDATION_FAILED, Unknown directive \"@defer\", no data", status, resp)
	}
}

// TestToConnectionPageInfo: startCursor and endCursor are the cursors of
// the first and the last edge, and the page flags are passed on.
func TestToConnectionPageInfo(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	p := order.Page{Orders: []order.Order{{ID: 3, CreatedAt: at.Add(2 * time.Second)}, {ID: 2, CreatedAt: at.Add(time.Second)}, {ID: 1, CreatedAt: at}},
		HasNext: true, HasPrevious: true}
	c := toConnection(p)
	pi := c.PageInfo
	if pi.StartCursor == nil || *pi.StartCursor != c.Edges[0].Cursor || pi.EndCursor == nil || *pi.EndCursor != c.Edges[2].Cursor ||
		!pi.HasNextPage || !pi.HasPreviousPage {
		t.Errorf("got %+v; want start = edge 0, end = edge 2, both flags", pi)
	}
	if got, err := order.ParseCursor(*pi.StartCursor); err != nil || got.ID != 3 || !got.CreatedAt.Equal(at.Add(2*time.Second)) {
		t.Errorf("start cursor: got %+v, %v; want order 3", got, err)
	}
	empty := toConnection(order.Page{}).PageInfo
	if empty.StartCursor != nil || empty.EndCursor != nil || empty.HasNextPage || empty.HasPreviousPage {
		t.Errorf("empty page: got %+v; want null cursors, false flags", empty)
	}
}
