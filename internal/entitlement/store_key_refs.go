package entitlement

import (
	"context"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// StoreKeyRefs lists a content's keys from a key store for the choice of
// the keys a ClearKey license carries (Deps.ContentKeys).
type StoreKeyRefs struct{ Reader keys.Reader }

// ContentKeys implements ContentKeys.
func (l StoreKeyRefs) ContentKeys(ctx context.Context, contentID string) ([]ContentKeyRef, error) {
	list, err := l.Reader.List(ctx, contentID)
	if err != nil {
		return nil, err
	}
	refs := make([]ContentKeyRef, 0, len(list))
	for _, k := range list {
		refs = append(refs, ContentKeyRef{KID: k.KID, ContentID: k.ContentID, TrackType: k.TrackType, Period: k.Period, Active: k.State == keys.StateActive})
	}
	return refs, nil
}
