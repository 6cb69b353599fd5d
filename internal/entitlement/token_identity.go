package entitlement

import "context"

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
