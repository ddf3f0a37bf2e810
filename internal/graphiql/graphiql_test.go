package graphiql

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPage(t *testing.T) {
	h, err := Handler(Config{Endpoint: "/graphql", SDLPath: "/graphql/schema.graphql",
		Headers: map[string]string{"Authorization": `Bearer a"<b>`}})
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(t, h, "/")
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("Content-Security-Policy %q; want %q", got, ContentSecurityPolicy)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q; want no-store", got)
	}
	// The headers are JSON in an attribute, escaped by html/template.
	if !strings.Contains(body, `&#34;Authorization&#34;: &#34;Bearer a\&#34;\u003cb\u003e&#34;`) {
		t.Errorf("headers not escaped as expected:\n%s", body)
	}
	if strings.Contains(body, "<b>") {
		t.Errorf("page contains unescaped markup from the headers:\n%s", body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("inline script or style, which the Content-Security-Policy forbids:\n%s", body)
	}
}

func TestPageWithoutHeaders(t *testing.T) {
	h, err := Handler(Config{Endpoint: "/graphql"})
	if err != nil {
		t.Fatal(err)
	}
	if body := serve(t, h, "/").Body.String(); !strings.Contains(body, `data-headers=""`) {
		t.Errorf("want empty data-headers:\n%s", body)
	}
}

func TestAssets(t *testing.T) {
	h, err := Handler(Config{Endpoint: "/graphql"})
	if err != nil {
		t.Fatal(err)
	}
	for name, ctype := range map[string]string{"graphiql.js": "text/javascript; charset=utf-8", "graphiql.css": "text/css; charset=utf-8"} {
		t.Run(name, func(t *testing.T) {
			rec := serve(t, h, AssetsPrefix+name)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != ctype || rec.Body.Len() < 1000 {
				t.Fatalf("%d %q %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("unversioned: Cache-Control %q; want no-cache", got)
			}
			etag := rec.Header().Get("ETag")
			version := strings.Trim(etag, `"`)
			rec = serve(t, h, AssetsPrefix+name+"?v="+version)
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("versioned: Cache-Control %q; want immutable", got)
			}
			if rec = serve(t, h, AssetsPrefix+name, "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("If-None-Match: %d, %d bytes; want 304, empty", rec.Code, rec.Body.Len())
			}
		})
	}
	if rec := serve(t, h, AssetsPrefix+"missing.js"); rec.Code != 404 {
		t.Errorf("missing asset: %d; want 404", rec.Code)
	}
}
