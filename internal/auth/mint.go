package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintOptions describe a token made by Mint.
type MintOptions struct {
	Subject  string        // the user id (UUID)
	Scope    string        // space-separated scopes; AdminScope for a partner token
	Issuer   string        // iss, when not empty
	Audience string        // aud, when not empty
	TTL      time.Duration // lifetime (1 h when 0); negative makes an expired token
	Now      time.Time     // issue time (time.Now when zero)
}

// Mint returns an HS256 token signed with secret. It is for development
// (make run's demo token) and tests only: production tokens come from the
// identity provider, and the API never issues tokens.
func Mint(secret []byte, o MintOptions) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: Mint needs a secret")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	c := claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   o.Subject,
		Issuer:    o.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}, Scope: o.Scope}
	if ttl < 0 {
		c.IssuedAt = jwt.NewNumericDate(now.Add(2 * ttl))
		c.NotBefore = c.IssuedAt
	}
	if o.Audience != "" {
		c.Audience = jwt.ClaimStrings{o.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
