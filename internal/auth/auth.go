// Package auth verifies the API's bearer tokens (JWT, RFC 7519) and turns
// them into an order.Principal.
//
// Two kinds of keys, each with its algorithms pinned:
//   - a shared secret (AUTH_JWT_SECRET): HS256 only;
//   - a JWKS file (AUTH_JWKS_FILE): RS256 with RSA keys, ES256 with P-256
//     keys. Symmetric ("oct") keys in the file are never used.
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
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

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
	// Issuer, when set, must equal the token's iss (AUTH_ISSUER).
	Issuer string
	// Audience, when set, must be among the token's aud (AUTH_AUDIENCE).
	Audience string
	// Leeway is the clock skew allowed (DefaultLeeway when 0).
	Leeway time.Duration
	// Now is the clock (time.Now when nil); for tests.
	Now func() time.Time
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	leeway time.Duration
	secret []byte
	jwks   keyfunc.Keyfunc
	parser *jwt.Parser
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
	if len(cfg.JWKS) > 0 {
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
		return nil, errors.New("auth: neither a JWT secret nor a JWKS is configured")
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
