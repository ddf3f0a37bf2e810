package rest

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the REST mirror, committed as
// openapi.json and checked against the handlers by the tests.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIHandler serves OpenAPI (GET /openapi.json), for partners who
// generate clients. The document is the contract, not a secret: it needs
// no token, like the GraphQL SDL.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(OpenAPI)
	})
}
