package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// get fetches path from base with the headers given as name, value pairs.
func get(t *testing.T, base, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestGraphiQL checks how the page and its embedded assets are served: in
// development on / with the demo token, a self-only Content-Security-Policy
// and cacheable versioned assets; in production not at all unless
// GRAPHIQL=true, and never with a demo token.
func TestGraphiQL(t *testing.T) {
	e := newInfra(t, "GRAPHIQL_DEMO_TOKEN=demo.token.value")
	base, _ := e.startAPI("api-dev")

	resp, page := get(t, base, "/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q; want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q allows more than self", csp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control %q; want no-store (it carries a token)", cc)
	}
	for _, want := range []string{`data-endpoint="/graphql"`, `data-sdl="/graphql/schema.graphql"`, "Bearer demo.token.value"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(page) {
		t.Errorf("page loads something from another host:\n%s", page)
	}
	links := regexp.MustCompile(`(?:src|href)="(/graphiql/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(links) != 2 {
		t.Fatalf("page links %d assets; want the script and the stylesheet:\n%s", len(links), page)
	}
	for _, l := range links {
		path := strings.ReplaceAll(l[1], "&amp;", "&")
		resp, body := get(t, base, path)
		wantType := "text/javascript; charset=utf-8"
		if strings.Contains(path, ".css") {
			wantType = "text/css; charset=utf-8"
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType || len(body) < 1000 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), wantType)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q; want immutable for a versioned URL", path, cc)
		}
		etag := resp.Header.Get("ETag")
		if r, _ := get(t, base, path, "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %d; want 304", path, etag, r.StatusCode)
		}
		if regexp.MustCompile(`unpkg\.com|jsdelivr\.net|cdnjs|googleapis\.com`).Match(body) {
			t.Errorf("GET %s references a CDN", path)
		}
	}
	if resp, _ := get(t, base, "/graphiql/graphiql.js"); resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("unversioned asset Cache-Control %q; want no-cache", resp.Header.Get("Cache-Control"))
	}
	if resp, _ := get(t, base, "/graphiql/nope.js"); resp.StatusCode != 404 {
		t.Errorf("GET /graphiql/nope.js: %d; want 404", resp.StatusCode)
	}
	if resp, _ := get(t, base, "/other"); resp.StatusCode != 404 {
		t.Errorf("GET /other: %d; want 404", resp.StatusCode)
	}

	t.Run("production", func(t *testing.T) {
		p := newInfra(t, "APP_ENV=production")
		base, _ := p.startAPI("api-prod")
		if resp, _ := get(t, base, "/"); resp.StatusCode != 404 {
			t.Errorf("production GET /: %d; want 404 (GraphiQL off)", resp.StatusCode)
		}
		if resp, _ := get(t, base, "/graphiql/graphiql.js"); resp.StatusCode != 404 {
			t.Errorf("production GET /graphiql/graphiql.js: %d; want 404", resp.StatusCode)
		}
	})
	t.Run("production opt-in", func(t *testing.T) {
		p := newInfra(t, "APP_ENV=production", "GRAPHIQL=true")
		base, _ := p.startAPI("api-prod-graphiql")
		resp, page := get(t, base, "/")
		if resp.StatusCode != 200 || strings.Contains(string(page), "Bearer") {
			t.Errorf("production GRAPHIQL=true GET /: %d; want 200 without a token:\n%s", resp.StatusCode, page)
		}
	})
	t.Run("production refuses a demo token", func(t *testing.T) {
		api, _ := binaries(t)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, api)
		cmd.Env = append(os.Environ(), "APP_ENV=production", "GRAPHIQL_DEMO_TOKEN=x", "AUTH_DISABLED=true", "PORT="+freePort(t))
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "GRAPHIQL_DEMO_TOKEN") {
			t.Errorf("API with APP_ENV=production GRAPHIQL_DEMO_TOKEN=x: %v; want exit 2 naming GRAPHIQL_DEMO_TOKEN:\n%s", err, out)
		}
	})
}
