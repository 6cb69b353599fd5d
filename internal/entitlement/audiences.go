package entitlement

import (
	"context"
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

// Default token identity of drmpipe's own tokens when none is configured
// (demo mode).
const (
	DefaultIssuer   = "drmpipe"
	DefaultAudience = "drmpipe-license"
)

// TokenIdentity is the iss and aud of drmpipe's own playback tokens: the
// configured issuer (tokens.issuer) and the first of the configured
// audiences (tokens.audiences), or DefaultIssuer and DefaultAudience.
func TokenIdentity(issuer string, audiences []string) (iss, aud string) {
	iss, aud = issuer, DefaultAudience
	if iss == "" {
		iss = DefaultIssuer
	}
	if len(audiences) > 0 {
		aud = audiences[0]
	}
	return iss, aud
}

// AudienceVerifiers accepts a token naming any of the configured audiences
// (tokens.audiences): the next audience's verifier is tried only when the
// previous one refused the token's aud claim (RFC 7519 §4.1.3). Any other
// failure (signature, expiry, claims) is final.
type AudienceVerifiers []*Verifier

// Verify implements TokenVerifier.
func (vs AudienceVerifiers) Verify(ctx context.Context, raw string) (*Claims, error) {
	err := errors.New("no token verifier configured")
	for _, v := range vs {
		c, verr := v.Verify(ctx, raw)
		if verr == nil || !errors.Is(verr, jwt.ErrTokenInvalidAudience) {
			return c, verr
		}
		err = verr
	}
	return nil, err
}

// KeySources trusts every key of several sources (drmpipe's own signing
// key and an operator JWKS): the first source that knows the kid answers;
// when none does, the first source's error is returned.
type KeySources []KeySource

// Key implements KeySource.
func (m KeySources) Key(ctx context.Context, kid string) (PublicKey, error) {
	var firstErr error
	for _, s := range m {
		k, err := s.Key(ctx, kid)
		if err == nil {
			return k, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return PublicKey{}, firstErr
}
