// Package auth verifies the API's bearer tokens (JWT, RFC 7519) and turns
// them into an order.Principal.
//
// Two kinds of keys, each with its algorithms pinned:
//   - a shared secret (AUTH_JWT_SECRET): HS256 only;
//   - a JWKS file (AUTH_JWKS_FILE) and/or a JWKS URL (AUTH_JWKS_URL, https,
//     refreshed periodically and when a token names an unknown kid, so the
//     identity provider can rotate keys): RS256 with RSA keys, ES256 with
//     P-256 keys. Symmetric ("oct") keys are never used.
//
// Any other alg ("none", HS384, PS256, ...) is refused, and so is an HS256
// token when no secret is configured: an HS256 token "signed" with an RSA
// public key (the classic HS/RS confusion) never meets that public key.
//
// A token must carry exp; nbf is checked when present; iss and aud are
// checked when configured; clocks may differ by Leeway. The subject (sub) is
// the user and must be a UUID. A token whose space-separated scope claim
// contains orders:admin is a partner or service token: it may act for any
// user.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/orderstream/orderstream/internal/order"
)

// AdminScope in a token's scope claim lets it act for any user.
const AdminScope = "orders:admin"

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 30 * time.Second

// MinSecretLen is the shortest HS256 secret accepted (256 bits, RFC 7518 3.2).
const MinSecretLen = 32

// Config says which tokens a Verifier accepts. At least one of Secret and
// JWKS must be set.
type Config struct {
	// Secret is the HS256 shared secret (AUTH_JWT_SECRET), at least
	// MinSecretLen bytes.
	Secret []byte
	// JWKS is a JSON Web Key Set (the content of AUTH_JWKS_FILE) with the
	// public keys of RS256 and ES256 tokens.
	JWKS []byte
	// JWKSURL is where the identity provider publishes its JWKS
	// (AUTH_JWKS_URL): https, or http on a loopback address for
	// development. Its keys are fetched at start (a failure is logged, not
	// fatal: tokens are refused until a fetch succeeds), every
	// JWKSRefresh, and when a token names a kid not in the set, at most
	// once per JWKSUnknownKIDEvery. A failed fetch keeps the last set.
	JWKSURL string
	// JWKSRefresh is the refresh interval (DefaultJWKSRefresh when 0).
	JWKSRefresh time.Duration
	// JWKSUnknownKIDEvery is the least time between two refreshes caused by
	// unknown kids (DefaultJWKSUnknownKIDEvery when 0), so that tokens with
	// made-up kids cannot make the API hammer the identity provider.
	JWKSUnknownKIDEvery time.Duration
	// HTTPClient fetches JWKSURL (a client with a 10 s timeout when nil).
	HTTPClient *http.Client
	// Log receives JWKS fetch errors (slog.Default when nil).
	Log *slog.Logger
	// Issuer, when set, must equal the token's iss (AUTH_ISSUER).
	Issuer string
	// Audience, when set, must be among the token's aud (AUTH_AUDIENCE).
	Audience string
	// Leeway is the clock skew allowed (DefaultLeeway when 0).
	Leeway time.Duration
	// Now is the clock (time.Now when nil); for tests.
	Now func() time.Time
}

// Defaults of the JWKS URL refreshes.
const (
	DefaultJWKSRefresh         = 10 * time.Minute
	DefaultJWKSUnknownKIDEvery = time.Minute
	// maxJWKSBytes bounds a fetched JWKS: a broken or hostile endpoint
	// cannot make the API read without end.
	maxJWKSBytes = 1 << 20
)

// Verifier checks bearer tokens. It is safe for concurrent use. Close
// stops the JWKS refreshes.
type Verifier struct {
	leeway time.Duration
	secret []byte
	jwks   keyfunc.Keyfunc
	parser *jwt.Parser
	stop   context.CancelFunc
}

// Close stops refreshing the JWKS URL, if any.
func (v *Verifier) Close() {
	if v.stop != nil {
		v.stop()
	}
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{}
	var methods []string
	if len(cfg.Secret) > 0 {
		if len(cfg.Secret) < MinSecretLen {
			return nil, fmt.Errorf("auth: the JWT secret must be at least %d bytes, it has %d", MinSecretLen, len(cfg.Secret))
		}
		v.secret = slices.Clone(cfg.Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		kf, stop, err := remoteJWKS(cfg)
		if err != nil {
			return nil, err
		}
		v.jwks, v.stop = kf, stop
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	} else if len(cfg.JWKS) > 0 {
		kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(cfg.JWKS))
		if err != nil {
			return nil, fmt.Errorf("auth: read JWKS: %w", err)
		}
		keys, err := kf.Storage().KeyReadAll(context.Background())
		if err != nil {
			return nil, fmt.Errorf("auth: read JWKS: %w", err)
		}
		usable := 0
		for _, k := range keys {
			if publicKeyAlg(publicOf(k.Key())) != "" {
				usable++
			}
		}
		if usable == 0 {
			return nil, errors.New("auth: the JWKS has no RSA or P-256 EC key")
		}
		v.jwks = kf
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if len(methods) == 0 {
		return nil, errors.New("auth: neither a JWT secret nor a JWKS (file or URL) is configured")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	v.leeway = leeway
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// remoteJWKS returns a key function over cfg.JWKSURL (and the keys of
// cfg.JWKS, checked first), refreshed in the background until stop.
func remoteJWKS(cfg Config) (kf keyfunc.Keyfunc, stop context.CancelFunc, err error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("auth: the JWKS URL %q is not a URL", cfg.JWKSURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, nil, fmt.Errorf("auth: the JWKS URL must be https (http only on a loopback address), not %q", cfg.JWKSURL)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	limited := *client
	limited.Transport = limitBody{next: client.Transport}
	refresh, unknownKID := cfg.JWKSRefresh, cfg.JWKSUnknownKIDEvery
	if refresh <= 0 {
		refresh = DefaultJWKSRefresh
	}
	if unknownKID <= 0 {
		unknownKID = DefaultJWKSUnknownKIDEvery
	}
	override := keyfunc.Override{
		Client:          &limited,
		HTTPTimeout:     10 * time.Second,
		RefreshInterval: refresh,
		// One refresh at once for an unknown kid, then one per interval; a
		// request never waits for the limiter: when the next refresh is
		// more than RateLimitWaitMax away, the token is refused at once.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKID), 1),
		RateLimitWaitMax:  time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				log.Error("fetch the JWKS of bearer tokens (the last keys fetched stay in use)", "url", u, "err", err)
			}
		},
	}
	if len(cfg.JWKS) > 0 {
		given, err := keyfunc.NewJWKSetJSON(json.RawMessage(cfg.JWKS))
		if err != nil {
			return nil, nil, fmt.Errorf("auth: read JWKS: %w", err)
		}
		override.Given = given.Storage()
	}
	ctx, stop := context.WithCancel(context.Background())
	kf, err = keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, override)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("auth: JWKS URL: %w", err)
	}
	return kf, stop, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitBody is a RoundTripper whose responses end after maxJWKSBytes.
type limitBody struct{ next http.RoundTripper }

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxJWKSBytes), resp.Body}
	return resp, nil
}

// NewFromFiles is New with the JWKS read from jwksFile (when not empty).
func NewFromFiles(cfg Config, jwksFile string) (*Verifier, error) {
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return nil, fmt.Errorf("auth: read JWKS file: %w", err)
		}
		cfg.JWKS = b
	}
	return New(cfg)
}

// claims are the claims read from a token.
type claims struct {
	jwt.RegisteredClaims
	// Scope is space-separated (RFC 8693 4.2).
	Scope string `json:"scope,omitempty"`
}

// Verify checks a token (without the "Bearer " prefix) and returns who it
// stands for. Every error wraps ErrInvalidToken.
func (v *Verifier) Verify(token string) (order.Principal, error) {
	p, _, err := v.VerifyExpiry(token)
	return p, err
}

// VerifyExpiry is Verify that also returns when the token expires (its
// exp, plus the clock leeway), for connections that outlive a request.
func (v *Verifier) VerifyExpiry(token string) (order.Principal, time.Time, error) {
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.key); err != nil {
		return order.Principal{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	uid, err := order.ParseUserID(c.Subject)
	if err != nil || c.Subject == "" {
		return order.Principal{}, time.Time{}, fmt.Errorf("%w: the subject (sub) must be a user id (UUID)", ErrInvalidToken)
	}
	return order.Principal{UserID: uid, Admin: slices.Contains(strings.Fields(c.Scope), AdminScope)}, c.ExpiresAt.Add(v.leeway), nil
}

// key picks the verification key for a token by its algorithm, which the
// parser has already checked against the allowed list: the secret for
// HS256, a JWKS key of the matching type for RS256 and ES256.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	// RFC 7515 4.1.11: a token whose crit header names extensions the
	// recipient does not understand must be refused, and OrderStream
	// understands none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("the crit header names extensions this API does not understand")
	}
	alg := t.Method.Alg()
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		if v.secret == nil {
			return nil, errors.New("HS256 tokens are not accepted")
		}
		return v.secret, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		if v.jwks == nil {
			return nil, fmt.Errorf("%s tokens are not accepted", alg)
		}
		k, err := v.jwks.Keyfunc(t)
		if err != nil {
			return nil, err
		}
		if set, ok := k.(jwt.VerificationKeySet); ok { // no kid: try every key of the right type
			var keys []jwt.VerificationKey
			for _, k := range set.Keys {
				if publicKeyAlg(k) == alg {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return nil, fmt.Errorf("no %s key in the JWKS", alg)
			}
			return jwt.VerificationKeySet{Keys: keys}, nil
		}
		if publicKeyAlg(k) != alg {
			return nil, fmt.Errorf("the key %v is not a %s key", t.Header["kid"], alg)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("alg %q is not accepted", alg)
	}
}

// publicKeyAlg is the only algorithm a JWKS key may verify: RS256 for RSA
// public keys, ES256 for P-256 public keys, none ("") for anything else.
func publicKeyAlg(k any) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return jwt.SigningMethodRS256.Alg()
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return jwt.SigningMethodES256.Alg()
		}
	}
	return ""
}

func publicOf(k any) any {
	if pk, ok := k.(interface{ Public() crypto.PublicKey }); ok {
		return pk.Public()
	}
	return k
}
