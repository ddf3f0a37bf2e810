package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TestProductionNeedsRLSRole: with APP_ENV=production the API refuses to
// start as a role that row-level security does not bind (here the
// superuser that owns the tables), and starts as its own role.
func TestProductionNeedsRLSRole(t *testing.T) {
	e := newInfra(t, "APP_ENV=production")
	api, _ := binaries(t)
	cmd := exec.Command(api)
	cmd.Env = append(append([]string{}, e.common...), "DATABASE_URL="+e.urls.Owner, "PORT="+freePort(t))
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the API did not exit within 60 s: %s", out)
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "orderstream_api") {
		t.Errorf("as the superuser in production: exit %d, output %s; want a refusal naming orderstream_api", cmd.ProcessState.ExitCode(), out)
	}
	e.startWorker()
	e.base, _ = e.startAPI("api") // as the API's role: starts and serves
	user := uuid.NewString()
	r := e.graphql(`mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status } } }`,
		map[string]any{"in": map[string]any{"externalId": "prod-1", "userId": user, "items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
	if len(r.Errors) > 0 {
		t.Fatalf("create as the API's role: %+v", r.Errors)
	}
}

// jwksEndpoint serves a JWKS over plain http on 127.0.0.1 (allowed for
// loopback only); set rotates it, down makes it answer 503.
type jwksEndpoint struct {
	*httptest.Server
	mu   sync.Mutex
	keys []map[string]any
	down bool
}

func (j *jwksEndpoint) set(down bool, keys ...*rsaKID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.down, j.keys = down, nil
	for _, k := range keys {
		j.keys = append(j.keys, map[string]any{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes())})
	}
}

type rsaKID struct {
	key *rsa.PrivateKey
	kid string
}

func newRSAKID(t *testing.T, kid string) *rsaKID {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &rsaKID{key: k, kid: kid}
}

func (k *rsaKID) token(t *testing.T, sub string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSURLRotation runs the API with AUTH_JWKS_URL: it starts while the
// identity provider is down (tokens refused, no crash), accepts tokens once
// the keys can be fetched, follows a key rotation (new kid accepted, the
// removed key refused).
func TestJWKSURLRotation(t *testing.T) {
	j := &jwksEndpoint{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	defer j.Close()
	k1, k2 := newRSAKID(t, "2026-11"), newRSAKID(t, "2026-12")
	j.set(true)
	e := newEnv(t, "AUTH_JWKS_URL="+j.URL, "AUTH_JWKS_UNKNOWN_KID_INTERVAL=100ms", "AUTH_JWKS_REFRESH_INTERVAL=1h")
	user := uuid.NewString()
	lookup := `{"query": "{ orderByExternalId(externalId: \"x\", userId: \"` + user + `\") { id } }"}`

	if status, _, body := e.raw("POST", "/graphql", k1.token(t, user), lookup); status != 401 {
		t.Fatalf("provider down: got %d %s; want 401", status, body)
	}
	j.set(false, k1)
	if status, _, body := e.raw("POST", "/graphql", k1.token(t, user), lookup); status != 200 {
		t.Fatalf("provider back with k1: got %d %s; want 200", status, body)
	}
	j.set(false, k2) // rotation: k1 removed
	if status, _, body := e.raw("POST", "/graphql", k2.token(t, user), lookup); status != 200 {
		t.Fatalf("after rotation, k2: got %d %s; want 200", status, body)
	}
	if status, _, body := e.raw("POST", "/graphql", k1.token(t, user), lookup); status != 401 {
		t.Errorf("after rotation, the removed k1: got %d %s; want 401", status, body)
	}
}
