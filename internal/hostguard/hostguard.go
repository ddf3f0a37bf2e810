// Package hostguard keeps a development API to this machine: it refuses
// requests whose Host header names another site (DNS rebinding: a web page
// on evil.example whose name later resolves to 127.0.0.1 sends requests with
// Host: evil.example), and tells loopback visitors from the others.
//
// In production the reverse proxy in front of the API checks the Host
// header (docs/SECURITY.md); the API does not.
package hostguard

import (
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
)

// hostname returns the name or address of a Host header value, without
// port and brackets, in lower case.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// IsLoopback reports whether a Host header value names this machine:
// localhost, an address of 127.0.0.0/8, or ::1 (with or without a port).
func IsLoopback(hostport string) bool {
	h := hostname(hostport)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Check lets through requests whose Host header is a loopback name or
// address, or one of allowed (names or addresses, any port; the
// ALLOWED_HOSTS of an API reached by another name in development), and
// answers the others 403.
func Check(next http.Handler, allowed []string, log *slog.Logger) http.Handler {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = hostname(a)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsLoopback(r.Host) || slices.Contains(names, hostname(r.Host)) {
			next.ServeHTTP(w, r)
			return
		}
		// The Host is the attacker's: logged quoted by slog, never echoed.
		log.WarnContext(r.Context(), "request refused: Host is not this machine (DNS rebinding protection; add it to ALLOWED_HOSTS)",
			"host", r.Host, "path", r.URL.Path)
		http.Error(w, "invalid Host header: set ALLOWED_HOSTS to reach this development API by another name", http.StatusForbidden)
	})
}

// LoopbackOr serves requests whose Host header is a loopback name or
// address with local, and the others with other.
func LoopbackOr(local, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsLoopback(r.Host) {
			local.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}
