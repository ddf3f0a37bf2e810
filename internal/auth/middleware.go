package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orderstream/orderstream/internal/order"
)

// Middleware requires a valid bearer token on every request it wraps and
// puts the token's Principal in the request context (order.WithPrincipal).
// Without one it answers 401 with WWW-Authenticate: Bearer and an error in
// the shape of the endpoint: a GraphQL error with extensions.code
// UNAUTHENTICATED when graphQL is true, else the REST mirror's
// {"error": {"code": "UNAUTHENTICATED", ...}}. OPTIONS requests (CORS
// preflights, which never carry credentials) pass through untouched, and so
// do websocket upgrades of GraphQL, which authenticate in their first
// message (Authenticate).
func (v *Verifier) Middleware(next http.Handler, graphQL bool, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || (graphQL && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")) {
			// Websocket upgrades cannot carry headers from browsers: they
			// authenticate in connection_init (Authenticate, called by the
			// GraphQL websocket transport).
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			unauthenticated(w, graphQL, `Bearer realm="orderstream"`, "a bearer token is required (Authorization: Bearer <JWT>)")
			return
		}
		p, err := v.Verify(token)
		if err != nil {
			if log != nil {
				log.InfoContext(r.Context(), "bearer token refused", "path", r.URL.Path, "err", err)
			}
			unauthenticated(w, graphQL, `Bearer realm="orderstream", error="invalid_token"`, "the bearer token is invalid or expired")
			return
		}
		next.ServeHTTP(w, r.WithContext(order.WithPrincipal(r.Context(), p)))
	})
}

// Authenticate checks the value of an Authorization header ("Bearer
// <token>"), as sent in a GraphQL websocket's connection_init payload, with
// the rules of Middleware. It returns ctx carrying the token's Principal,
// ending when the token expires.
func (v *Verifier) Authenticate(ctx context.Context, authorization string) (context.Context, error) {
	token, ok := bearer(authorization)
	if !ok {
		return ctx, fmt.Errorf("%w: a bearer token is required", ErrInvalidToken)
	}
	p, exp, err := v.VerifyExpiry(token)
	if err != nil {
		return ctx, err
	}
	ctx, cancel := context.WithDeadline(order.WithPrincipal(ctx, p), exp)
	_ = cancel // released at the deadline, or with ctx (the connection's request) before
	return ctx, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 6750 2.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func unauthenticated(w http.ResponseWriter, graphQL bool, challenge, msg string) {
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	var body any
	if graphQL {
		body = map[string]any{"errors": []any{map[string]any{
			"message": msg, "extensions": map[string]any{"code": order.EUNAUTHENTICATED},
		}}}
	} else {
		body = map[string]any{"error": map[string]any{"code": order.EUNAUTHENTICATED, "message": msg}}
	}
	_ = json.NewEncoder(w).Encode(body)
}
