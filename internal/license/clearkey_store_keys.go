package license

import (
	"context"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// StoreKeys looks keys up in a key store (Deps.Keys).
type StoreKeys struct{ Reader keys.Reader }

// Lookup returns the key, its content ID and track type, and whether it is
// revoked.
func (l StoreKeys) Lookup(ctx context.Context, kid drm.KeyID) (keys.ContentKey, string, keys.TrackType, bool, error) {
	k, err := l.Reader.Get(ctx, kid)
	if err != nil {
		return keys.ContentKey{}, "", 0, false, err
	}
	return k.Key, k.ContentID, k.TrackType, k.State == keys.StateRevoked, nil
}
