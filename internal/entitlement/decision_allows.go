package entitlement

import (
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// AllowsKey reports whether a stored key may be released under d: it must
// belong to d.ContentID and pass AllowsKID. License handlers call it for
// every key they are about to release (with Service.CheckKIDs for
// revoked KIDs).
func (d Decision) AllowsKey(contentID string, kid drm.KeyID, tt keys.TrackType) bool {
	return contentID == d.ContentID && d.AllowsKID(kid, tt)
}
