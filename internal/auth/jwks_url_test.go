package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is an identity provider's JWKS endpoint (https) whose keys a
// test rotates, and which can be made to fail.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]any
	status  int // answered instead of the keys when not 0
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 0 {
			http.Error(w, "identity provider down", s.status)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

func urlVerifier(t *testing.T, s *jwksServer) *Verifier {
	t.Helper()
	v, err := New(Config{JWKSURL: s.URL, HTTPClient: s.Client(), Now: clock,
		// No periodic refresh during the test: only unknown kids refresh.
		JWKSRefresh: time.Hour, JWKSUnknownKIDEvery: time.Hour,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func newRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rs256(t *testing.T, k *rsa.PrivateKey, kid string) string {
	return sign(t, jwt.SigningMethodRS256, k, baseClaims(), map[string]any{"kid": kid})
}

// TestJWKSURLRotation rotates the provider's key: a token signed with the
// new key (new kid) is accepted at once (an unknown kid refreshes the set),
// and a token of the removed key is refused from that refresh on.
func TestJWKSURLRotation(t *testing.T) {
	old, next := newRSA(t), newRSA(t)
	s := newJWKSServer(t, rsaJWK(&old.PublicKey, "2026-01"))
	v := urlVerifier(t, s)

	if _, err := v.Verify(rs256(t, old, "2026-01")); err != nil {
		t.Fatalf("token of the published key: %v; want accepted", err)
	}
	wantRefused(t, v, rs256(t, next, "2026-02")) // not published yet

	// The provider publishes the new key next to the old one, then signs
	// with it; the rate limit lets one more unknown-kid refresh through
	// only after JWKSUnknownKIDEvery, so reset it with a new verifier.
	s.set(0, rsaJWK(&old.PublicKey, "2026-01"), rsaJWK(&next.PublicKey, "2026-02"))
	v = urlVerifier(t, s)
	if _, err := v.Verify(rs256(t, old, "2026-01")); err != nil {
		t.Fatalf("old key while both are published: %v; want accepted", err)
	}
	// The provider drops the old key and signs with the new one.
	s.set(0, rsaJWK(&next.PublicKey, "2026-02"))
	before := s.fetches.Load()
	v = urlVerifier(t, s)
	if _, err := v.Verify(rs256(t, next, "2026-02")); err != nil {
		t.Fatalf("new key after rotation: %v; want accepted", err)
	}
	wantRefused(t, v, rs256(t, old, "2026-01"))
	wantRefused(t, v, rs256(t, old, "2026-02")) // the old key under the new kid
	if n := s.fetches.Load() - before; n != 2 {
		t.Errorf("the set was fetched %d times; want twice (at start, then once for the unknown kid 2026-01)", n)
	}
}

// TestJWKSURLUnknownKIDRefresh: a verifier that fetched the old set learns
// the new key from the first token naming it, and forgets the removed key.
func TestJWKSURLUnknownKIDRefresh(t *testing.T) {
	old, next := newRSA(t), newRSA(t)
	s := newJWKSServer(t, rsaJWK(&old.PublicKey, "k1"))
	v := urlVerifier(t, s)
	if _, err := v.Verify(rs256(t, old, "k1")); err != nil {
		t.Fatalf("k1 before rotation: %v", err)
	}
	s.set(0, rsaJWK(&next.PublicKey, "k2"))
	if _, err := v.Verify(rs256(t, next, "k2")); err != nil {
		t.Fatalf("k2 after rotation: %v; want accepted after the unknown-kid refresh", err)
	}
	wantRefused(t, v, rs256(t, old, "k1"))
	// Made-up kids do not refetch: the one refresh per interval is spent.
	before := s.fetches.Load()
	for range 20 {
		wantRefused(t, v, rs256(t, next, "made-up"))
	}
	if n := s.fetches.Load() - before; n != 0 {
		t.Errorf("20 tokens with unknown kids fetched the set %d times; want 0 (rate limited)", n)
	}
	if _, err := v.Verify(rs256(t, next, "k2")); err != nil {
		t.Errorf("k2 after the flood: %v; want accepted", err)
	}
}

// TestJWKSURLFetchErrors: a provider that is down at start does not stop
// the API (tokens are refused until a fetch succeeds), and a failed
// refresh keeps the last keys.
func TestJWKSURLFetchErrors(t *testing.T) {
	k := newRSA(t)
	s := newJWKSServer(t)
	s.set(http.StatusServiceUnavailable)
	v := urlVerifier(t, s)
	wantRefused(t, v, rs256(t, k, "k1")) // spends the unknown-kid refresh on a 503

	s.set(0, rsaJWK(&k.PublicKey, "k1"))
	v = urlVerifier(t, s) // the provider is back at start
	if _, err := v.Verify(rs256(t, k, "k1")); err != nil {
		t.Fatalf("after the provider came back: %v; want accepted", err)
	}
	s.set(http.StatusInternalServerError)
	wantRefused(t, v, rs256(t, k, "unknown")) // a refresh that fails
	if _, err := v.Verify(rs256(t, k, "k1")); err != nil {
		t.Errorf("k1 after a failed refresh: %v; want still accepted (last good set)", err)
	}

	// Garbage and a huge body are fetch errors too, not crashes.
	huge := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys": [`))
		for range 2 << 10 {
			w.Write(make([]byte, 1<<10))
		}
	}))
	defer huge.Close()
	hv, err := New(Config{JWKSURL: huge.URL, HTTPClient: huge.Client(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("garbage JWKS at start: %v; want a verifier that refuses tokens", err)
	}
	defer hv.Close()
	wantRefused(t, hv, rs256(t, k, "k1"))
}

func TestJWKSURLConfig(t *testing.T) {
	for _, u := range []string{"http://idp.example.com/jwks.json", "ftp://idp.example.com/jwks", "not a url", "https://"} {
		if v, err := New(Config{JWKSURL: u}); err == nil {
			v.Close()
			t.Errorf("JWKS URL %q accepted; want refused (https only, http on loopback)", u)
		}
	}
}
