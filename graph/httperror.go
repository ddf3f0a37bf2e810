package graph

import (
	"encoding/json"
	"maps"
	"net/http"
)

// WriteHTTPError answers an HTTP request to the GraphQL endpoint with an
// error in GraphQL's shape, {"errors": [{"message", "extensions": {"code",
// ...}}]}, for what fails before a GraphQL operation runs (authentication,
// rate limiting): the middlewares in front of /graphql get it as their
// error writer. extensions adds to the code (retryAfterSeconds, ...).
func WriteHTTPError(w http.ResponseWriter, status int, code, message string, extensions map[string]any) {
	ext := map[string]any{}
	maps.Copy(ext, extensions)
	ext["code"] = code
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": message, "extensions": ext}}})
}
