package rest

import (
	"net/http"
	"slices"
	"strings"
)

// route is one operation of the REST mirror; openapi.json documents
// exactly these (TestOpenAPIDocumentsEveryRoute).
type route struct {
	method, path string
	handler      http.HandlerFunc
}

func (h *Handler) routes() []route {
	return []route{
		{http.MethodPost, "/orders", h.create},
		{http.MethodGet, "/orders/by-external/{external_id}", h.get},
		{http.MethodPut, "/orders/by-external/{external_id}", h.update},
		{http.MethodDelete, "/orders/by-external/{external_id}", h.cancel},
	}
}

// fallback answers what no route takes under /orders, in the REST error
// body: an OPTIONS request on a known path gets 204 and Allow, another
// method 405 METHOD_NOT_ALLOWED and Allow (RFC 9110 15.5.6), any other path
// 404 NOT_FOUND. The ServeMux would answer both in plain text.
func fallback(routes []route) http.Handler {
	// paths matches the request path alone against the routes' paths (a
	// ServeMux, so that wildcards match as in the real one); allow holds
	// each path's methods.
	paths := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes {
		if _, ok := allow[rt.path]; !ok {
			paths.Handle(rt.path, http.NotFoundHandler())
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	for p, ms := range allow {
		if slices.Contains(ms, http.MethodGet) {
			ms = append(ms, http.MethodHead) // GET routes serve HEAD too
		}
		allow[p] = append(ms, http.MethodOptions)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := paths.Handler(r)
		methods, ok := allow[pattern]
		switch {
		case !ok:
			WriteError(w, http.StatusNotFound, "NOT_FOUND", "no such route: see /openapi.json for the REST API", nil)
		case r.Method == http.MethodOptions:
			w.Header().Set("Allow", strings.Join(methods, ", "))
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", strings.Join(methods, ", "))
			WriteError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				r.Method+" is not allowed here: use "+strings.Join(methods[:len(methods)-1], ", "), nil)
		}
	})
}
