package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderstream/orderstream/graph"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/rest"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef-test-secret")
	user   = "7f1d1d0e-5c3b-4a9e-9b7e-2f0d2b1c9a11"
	now    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func clock() time.Time { return now }

func verifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	cfg.Now = clock
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": user, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func wantRefused(t *testing.T, v *Verifier, token string) {
	t.Helper()
	p, err := v.Verify(token)
	if err == nil {
		t.Fatalf("accepted: %+v; want refused", p)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %v does not wrap ErrInvalidToken", err)
	}
}

func TestHS256(t *testing.T) {
	v := verifier(t, Config{Secret: secret, Issuer: "https://idp.example", Audience: "orderstream"})
	good := func() jwt.MapClaims {
		return with(baseClaims(), "iss", "https://idp.example", "aud", []string{"other", "orderstream"})
	}

	t.Run("OK", func(t *testing.T) {
		p, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, good(), nil))
		if err != nil || p != (order.Principal{UserID: user}) {
			t.Fatalf("got %+v, %v; want user %s, not admin", p, err, user)
		}
	})
	t.Run("UppercaseSubjectCanonicalised", func(t *testing.T) {
		p, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, with(good(), "sub", strings.ToUpper(user)), nil))
		if err != nil || p.UserID != user {
			t.Fatalf("got %+v, %v; want user %s", p, err, user)
		}
	})
	t.Run("AdminScope", func(t *testing.T) {
		p, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, with(good(), "scope", "orders:read orders:admin"), nil))
		if err != nil || !p.Admin {
			t.Fatalf("got %+v, %v; want admin", p, err)
		}
		p, err = v.Verify(sign(t, jwt.SigningMethodHS256, secret, with(good(), "scope", "orders:administrator"), nil))
		if err != nil || p.Admin {
			t.Fatalf("scope orders:administrator: got %+v, %v; want not admin", p, err)
		}
	})
	t.Run("WithinLeeway", func(t *testing.T) {
		c := with(good(), "exp", now.Add(-20*time.Second).Unix(), "nbf", now.Add(20*time.Second).Unix())
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, c, nil)); err != nil {
			t.Fatalf("20 s of skew: %v; want accepted", err)
		}
	})

	for name, token := range map[string]string{
		"WrongSecret":     sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good(), nil),
		"Expired":         sign(t, jwt.SigningMethodHS256, secret, with(good(), "exp", now.Add(-time.Minute).Unix()), nil),
		"NoExp":           sign(t, jwt.SigningMethodHS256, secret, with(good(), "exp", nil), nil),
		"NotYetValid":     sign(t, jwt.SigningMethodHS256, secret, with(good(), "nbf", now.Add(time.Minute).Unix()), nil),
		"WrongIssuer":     sign(t, jwt.SigningMethodHS256, secret, with(good(), "iss", "https://evil.example"), nil),
		"NoIssuer":        sign(t, jwt.SigningMethodHS256, secret, with(good(), "iss", nil), nil),
		"WrongAudience":   sign(t, jwt.SigningMethodHS256, secret, with(good(), "aud", "someone-else"), nil),
		"NoAudience":      sign(t, jwt.SigningMethodHS256, secret, with(good(), "aud", nil), nil),
		"NoSubject":       sign(t, jwt.SigningMethodHS256, secret, with(good(), "sub", nil), nil),
		"SubjectNotUUID":  sign(t, jwt.SigningMethodHS256, secret, with(good(), "sub", "alice"), nil),
		"HS384":           sign(t, jwt.SigningMethodHS384, secret, good(), nil),
		"AlgNone":         sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(), nil),
		"AlgNoneNoSig":    unsignedNone(good()),
		"Tampered":        tamper(sign(t, jwt.SigningMethodHS256, secret, good(), nil)),
		"Garbage":         "not-a-jwt",
		"Empty":           "",
		"RS256NoJWKS":     sign(t, jwt.SigningMethodRS256, rsaKey(t), good(), nil),
		"ScopeNotAString": sign(t, jwt.SigningMethodHS256, secret, with(good(), "scope", []string{AdminScope}), nil),
		"CritExtension":   sign(t, jwt.SigningMethodHS256, secret, good(), map[string]any{"crit": []string{"exp-ext"}, "exp-ext": true}),
		"CritEmpty":       sign(t, jwt.SigningMethodHS256, secret, good(), map[string]any{"crit": []string{}}),
	} {
		t.Run(name, func(t *testing.T) { wantRefused(t, v, token) })
	}
}

// unsignedNone builds an alg "none" token by hand, with an empty signature.
func unsignedNone(c jwt.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(c)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "."
}

// tamper makes the token's subject another user, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	json.Unmarshal(b, &c)
	c["sub"] = "00000000-0000-4000-8000-000000000001"
	b, _ = json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

var testRSA *rsa.PrivateKey

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	if testRSA == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		testRSA = k
	}
	return testRSA
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// writeJWKS writes a JWKS file with the public keys and returns its path.
func writeJWKS(t *testing.T, keys ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func rsaJWK(k *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(k *ecdsa.PublicKey, kid string) map[string]any {
	b, _ := k.Bytes() // uncompressed point: 0x04 || X || Y
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig", "alg": "ES256",
		"x": b64(b[1:33]), "y": b64(b[33:])}
}

func TestJWKS(t *testing.T) {
	rk := rsaKey(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := writeJWKS(t, rsaJWK(&rk.PublicKey, "rsa-1"), ecJWK(&ek.PublicKey, "ec-1"))
	v, err := NewFromFiles(Config{Now: clock}, path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("RS256", func(t *testing.T) {
		p, err := v.Verify(sign(t, jwt.SigningMethodRS256, rk, baseClaims(), map[string]any{"kid": "rsa-1"}))
		if err != nil || p.UserID != user {
			t.Fatalf("got %+v, %v; want user %s", p, err, user)
		}
	})
	t.Run("RS256WithoutKid", func(t *testing.T) {
		if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rk, baseClaims(), nil)); err != nil {
			t.Fatalf("got %v; want accepted (tried against the RSA keys)", err)
		}
	})
	t.Run("ES256", func(t *testing.T) {
		if _, err := v.Verify(sign(t, jwt.SigningMethodES256, ek, baseClaims(), map[string]any{"kid": "ec-1"})); err != nil {
			t.Fatalf("got %v; want accepted", err)
		}
	})

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	for name, token := range map[string]string{
		"RS256OtherKey":   sign(t, jwt.SigningMethodRS256, other, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"RS256UnknownKid": sign(t, jwt.SigningMethodRS256, rk, baseClaims(), map[string]any{"kid": "nope"}),
		"RS256Expired":    sign(t, jwt.SigningMethodRS256, rk, with(baseClaims(), "exp", now.Add(-time.Hour).Unix()), map[string]any{"kid": "rsa-1"}),
		"ES256WithRSAKid": sign(t, jwt.SigningMethodES256, ek, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"RS384":           sign(t, jwt.SigningMethodRS384, rk, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"PS256":           sign(t, jwt.SigningMethodPS256, rk, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"AlgNone":         unsignedNone(baseClaims()),
		"HSWithPublicPEM": sign(t, jwt.SigningMethodHS256, pubPEM, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"HSWithPublicDER": sign(t, jwt.SigningMethodHS256, pubDER, baseClaims(), map[string]any{"kid": "rsa-1"}),
		"HSWithModulus":   sign(t, jwt.SigningMethodHS256, rk.PublicKey.N.Bytes(), baseClaims(), nil),
		"HSWithJWKSBytes": sign(t, jwt.SigningMethodHS256, mustRead(t, path), baseClaims(), nil),
	} {
		t.Run(name, func(t *testing.T) { wantRefused(t, v, token) })
	}

	t.Run("BothKinds", func(t *testing.T) {
		v := verifier(t, Config{Secret: secret, JWKS: mustRead(t, path)})
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, baseClaims(), nil)); err != nil {
			t.Errorf("HS256: %v", err)
		}
		if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, rk, baseClaims(), map[string]any{"kid": "rsa-1"})); err != nil {
			t.Errorf("RS256: %v", err)
		}
		wantRefused(t, v, sign(t, jwt.SigningMethodHS256, pubPEM, baseClaims(), map[string]any{"kid": "rsa-1"}))
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKSOnlySymmetricKeys(t *testing.T) {
	path := writeJWKS(t, map[string]any{"kty": "oct", "kid": "k", "k": b64(secret)})
	if _, err := NewFromFiles(Config{}, path); err == nil {
		t.Fatal("a JWKS with only an oct key was accepted; want an error")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no keys: want an error")
	}
	if _, err := New(Config{Secret: []byte("short")}); err == nil {
		t.Error("short secret: want an error")
	}
	if _, err := New(Config{JWKS: []byte("{not json")}); err == nil {
		t.Error("bad JWKS: want an error")
	}
	if _, err := NewFromFiles(Config{}, filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing JWKS file: want an error")
	}
}

func TestMint(t *testing.T) {
	v := verifier(t, Config{Secret: secret, Issuer: "dev", Audience: "orderstream"})
	tok, err := Mint(secret, MintOptions{Subject: user, Scope: AdminScope, Issuer: "dev", Audience: "orderstream", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(tok); err != nil || p.UserID != user || !p.Admin {
		t.Fatalf("got %+v, %v; want admin %s", p, err, user)
	}
	expired, _ := Mint(secret, MintOptions{Subject: user, Issuer: "dev", Audience: "orderstream", Now: now, TTL: -time.Hour})
	wantRefused(t, v, expired)
}

// writerFor is the error writer of the endpoint: GraphQL's or REST's.
func writerFor(graphQL bool) ErrorWriter {
	if graphQL {
		return graph.WriteHTTPError
	}
	return rest.WriteError
}

func TestMiddleware(t *testing.T) {
	v := verifier(t, Config{Secret: secret})
	var got order.Principal
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = order.PrincipalFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	good := sign(t, jwt.SigningMethodHS256, secret, baseClaims(), nil)
	for _, tc := range []struct {
		name, header string
		graphQL      bool
		status       int
		body         string
	}{
		{"GraphQLNoToken", "", true, 401, `"extensions":{"code":"UNAUTHENTICATED"}`},
		{"RESTNoToken", "", false, 401, `{"error":{"code":"UNAUTHENTICATED"`},
		{"BasicAuth", "Basic dXNlcjpwYXNz", false, 401, `UNAUTHENTICATED`},
		{"BearerEmpty", "Bearer ", true, 401, `UNAUTHENTICATED`},
		{"BadToken", "Bearer " + tamper(good), true, 401, `UNAUTHENTICATED`},
		{"OK", "Bearer " + good, true, 204, ""},
		{"LowercaseScheme", "bearer " + good, false, 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = order.Principal{}
			req := httptest.NewRequest("POST", "/x", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			v.Middleware(next, writerFor(tc.graphQL), nil).ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("got %d %s; want %d with %s", rec.Code, rec.Body, tc.status, tc.body)
			}
			if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q; want Bearer", rec.Header().Get("WWW-Authenticate"))
			}
			if tc.status == 204 && got.UserID != user {
				t.Errorf("principal in context %+v; want user %s", got, user)
			}
		})
	}
	t.Run("PreflightPasses", func(t *testing.T) {
		rec := httptest.NewRecorder()
		v.Middleware(next, graph.WriteHTTPError, nil).ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/graphql", nil))
		if rec.Code != 204 {
			t.Errorf("OPTIONS: got %d; want it passed through", rec.Code)
		}
	})
}

// TestAuthenticate: a websocket's connection_init Authorization value is
// checked like the header, and the context ends when the token expires.
func TestAuthenticate(t *testing.T) {
	v := verifier(t, Config{Secret: secret})
	good := sign(t, jwt.SigningMethodHS256, secret, baseClaims(), nil)
	ctx, err := v.Authenticate(context.Background(), "Bearer "+good)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := order.PrincipalFrom(ctx); p.UserID != user {
		t.Errorf("principal %+v; want user %s", p, user)
	}
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(now.Add(time.Hour+DefaultLeeway)) {
		t.Errorf("deadline %v, %v; want exp + leeway %v", dl, ok, now.Add(time.Hour+DefaultLeeway))
	}
	for _, bad := range []string{"", "Bearer ", "Basic dXNlcjpwYXNz", good, "Bearer " + tamper(good)} {
		if _, err := v.Authenticate(context.Background(), bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Authenticate(%.20q): got %v; want ErrInvalidToken", bad, err)
		}
	}
}

func TestMiddlewareLetsWebsocketsAuthenticateLater(t *testing.T) {
	v := verifier(t, Config{Secret: secret})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		name, upgrade string
		graphQL       bool
		status        int
	}{
		{"GraphQLWebsocket", "websocket", true, 204},
		{"OtherUpgrade", "h2c", true, 401},
		{"RESTWebsocket", "websocket", false, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/graphql", nil)
			req.Header.Set("Upgrade", tc.upgrade)
			rec := httptest.NewRecorder()
			// As the API mounts them: GraphQL lets websocket upgrades
			// through to authenticate later, REST does not.
			h := v.Middleware(next, rest.WriteError, nil)
			if tc.graphQL {
				h = ExceptWebsocket(next, v.Middleware(next, graph.WriteHTTPError, nil))
			}
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("got %d; want %d", rec.Code, tc.status)
			}
		})
	}
}
