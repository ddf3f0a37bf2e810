package graph

import (
	_ "embed"
	"net/http"
)

// SDL is the published schema, as committed in schema.graphqls.
//
//go:embed schema.graphqls
var SDL string

// SDLHandler serves the schema for partners who integrate schema-first
// (GET /graphql/schema.graphql). It is public: the schema is the contract,
// not a secret, even when introspection is off.
func SDLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write([]byte(SDL))
	})
}
