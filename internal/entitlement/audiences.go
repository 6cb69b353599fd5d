package entitlement

import (
	"context"
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

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
