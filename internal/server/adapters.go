package server

import (
	"context"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// keyLookup adapts a key reader to the ClearKey handler.
type keyLookup struct{ r keys.Reader }

func (l keyLookup) Lookup(ctx context.Context, kid drm.KeyID) (keys.ContentKey, string, keys.TrackType, bool, error) {
	k, err := l.r.Get(ctx, kid)
	if err != nil {
		return keys.ContentKey{}, "", 0, false, err
	}
	return k.Key, k.ContentID, k.TrackType, k.State == keys.StateRevoked, nil
}

// contentKeyRefs adapts a key reader to entitlement's choice of the keys a
// ClearKey license carries.
type contentKeyRefs struct{ r keys.Reader }

func (l contentKeyRefs) ContentKeys(ctx context.Context, contentID string) ([]entitlement.ContentKeyRef, error) {
	list, err := l.r.List(ctx, contentID)
	if err != nil {
		return nil, err
	}
	refs := make([]entitlement.ContentKeyRef, 0, len(list))
	for _, k := range list {
		refs = append(refs, entitlement.ContentKeyRef{KID: k.KID, ContentID: k.ContentID, TrackType: k.TrackType, Period: k.Period, Active: k.State == keys.StateActive})
	}
	return refs, nil
}
