// Package graphiql serves GraphiQL, the in-browser GraphQL IDE, from assets
// embedded in the binary: no CDN, so the page works on an offline machine.
//
// The bundle in assets/ is built from web/graphiql (npm graphiql 3, React,
// graphql-ws, bundled with esbuild) by `make web` and committed, so that
// `go build` needs no Node.js.
package graphiql

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// AssetsPrefix is the path under which the page's script and stylesheet
// are served.
const AssetsPrefix = "/graphiql/"

// ContentSecurityPolicy allows the page only its own origin: scripts and
// styles from the API itself, fonts and images inlined as data: URLs,
// requests (fetch and WebSocket) to the same origin.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config is what the page is given.
type Config struct {
	// Endpoint is the GraphQL path queries, mutations and subscriptions go
	// to, e.g. /graphql.
	Endpoint string
	// SDLPath is where the page loads the schema from (the published SDL),
	// so that GraphiQL works without introspection; empty: introspection.
	SDLPath string
	// Headers are prefilled in GraphiQL's headers editor. Development only
	// (the demo token of `make run`): the page is then served with
	// Cache-Control: no-store, and must never carry a production token.
	Headers map[string]string
}

// asset is one embedded file with its content hash.
type asset struct {
	body        []byte
	contentType string
	etag        string
	version     string
}

// Handler serves the GraphiQL page on "/" and its assets under
// AssetsPrefix; register it for both ("GET /{$}" and "GET /graphiql/").
func Handler(cfg Config) (http.Handler, error) {
	files := map[string]asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		v := hex.EncodeToString(sum[:8])
		files[path.Base(p)] = asset{body: b, contentType: contentType(p), etag: `"` + v + `"`, version: v}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var headers string
	if len(cfg.Headers) > 0 {
		b, err := json.MarshalIndent(cfg.Headers, "", "  ")
		if err != nil {
			return nil, err
		}
		headers = string(b)
	}
	var page bytes.Buffer
	err = pageTemplate.Execute(&page, map[string]string{
		"Endpoint": cfg.Endpoint,
		"SDL":      cfg.SDLPath,
		"Headers":  headers,
		"JS":       AssetsPrefix + "graphiql.js?v=" + files["graphiql.js"].version,
		"CSS":      AssetsPrefix + "graphiql.css?v=" + files["graphiql.css"].version,
	})
	if err != nil {
		return nil, err
	}
	pageBytes := page.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			// The page may carry a (development) token: never store it.
			h.Set("Cache-Control", "no-store")
			h.Set("X-Frame-Options", "DENY")
			_, _ = w.Write(pageBytes)
			return
		}
		a, ok := files[strings.TrimPrefix(r.URL.Path, AssetsPrefix)]
		if !ok || !strings.HasPrefix(r.URL.Path, AssetsPrefix) {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		if r.URL.Query().Get("v") == a.version {
			// The page links versioned URLs: a new bundle gets a new URL.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(a.body)
	}), nil
}

func contentType(p string) string {
	switch {
	case strings.HasSuffix(p, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(p, ".css"):
		return "text/css; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// pageTemplate passes the configuration in data attributes: the
// Content-Security-Policy forbids inline scripts.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>OrderStream GraphiQL</title>
<link rel="stylesheet" href="{{.CSS}}">
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-sdl="{{.SDL}}" data-headers="{{.Headers}}">Loading GraphiQL…</div>
<script src="{{.JS}}"></script>
</body>
</html>
`))
