package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/orderstream/orderstream/internal/order"
)

// ErrorWriter writes an error response in the wire format of the endpoint
// behind a middleware (graph.WriteHTTPError, rest.WriteError): the adapter
// owns its format, the middleware only says what went wrong.
type ErrorWriter func(w http.ResponseWriter, status int, code, message string, details map[string]any)

// Middleware requires a valid bearer token on every request it wraps and
// puts the token's Principal in the request context (order.WithPrincipal).
// Without one it answers 401 with WWW-Authenticate: Bearer and an error
// with code UNAUTHENTICATED, written by fail in the endpoint's format.
// OPTIONS requests (CORS preflights, which never carry credentials) pass
// through untouched.
func (v *Verifier) Middleware(next http.Handler, fail ErrorWriter, log *slog.Logger) http.Handler {
	refuse := func(w http.ResponseWriter, challenge, msg string) {
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Cache-Control", "no-store")
		fail(w, http.StatusUnauthorized, order.EUNAUTHENTICATED, msg, nil)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			refuse(w, `Bearer realm="orderstream"`, "a bearer token is required (Authorization: Bearer <JWT>)")
			return
		}
		p, err := v.Verify(token)
		if err != nil {
			if log != nil {
				log.InfoContext(r.Context(), "bearer token refused", "path", r.URL.Path, "err", err)
			}
			refuse(w, `Bearer realm="orderstream", error="invalid_token"`, "the bearer token is invalid or expired")
			return
		}
		next.ServeHTTP(w, r.WithContext(order.WithPrincipal(r.Context(), p)))
	})
}

// ExceptWebsocket sends websocket upgrade requests to ws and everything
// else to next (Middleware in front of the same endpoint). Browsers cannot
// set headers on an upgrade, so GraphQL's websocket transport
// authenticates in its connection_init message instead (Authenticate).
func ExceptWebsocket(ws, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
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
