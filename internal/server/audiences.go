package server

import (
	"context"
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// audienceVerifiers accepts a token naming any of the configured audiences
// (tokens.audiences): the next audience's verifier is tried only when the
// previous one refused the token's aud claim (RFC 7519 §4.1.3). Any other
// failure (signature, expiry, claims) is final.
type audienceVerifiers []*entitlement.Verifier

// Verify implements entitlement.TokenVerifier.
func (vs audienceVerifiers) Verify(ctx context.Context, raw string) (*entitlement.Claims, error) {
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
