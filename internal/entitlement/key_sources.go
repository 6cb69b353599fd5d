package entitlement

import "context"

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
