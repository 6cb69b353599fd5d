package entitlement

import (
	"slices"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// MayRelease is the one rule for whether a stored key may go into a license
// under d. It returns nil, or a *DenyError whose Message names the key ID
// and nothing else:
//   - ReasonRevoked for a key revoked in the store (not Active);
//   - ReasonNotEntitled for a key of another content than d.ContentID, a
//     KID outside the token's kids claim, or a track type outside its tt
//     claim (a key for all track types passes any tt claim).
//
// The revocation list is checked apart, by Authorize for the requested
// KIDs and by LicenseKIDs for the keys it adds.
func (d Decision) MayRelease(k ContentKeyRef) error {
	switch {
	case !k.Active:
		return deny(ReasonRevoked, "key ID "+k.KID.String()+" is revoked", nil)
	case k.ContentID != d.ContentID,
		d.KIDs != nil && !slices.Contains(d.KIDs, k.KID),
		d.TrackTypes != nil && k.TrackType != keys.All && !slices.Contains(d.TrackTypes, k.TrackType):
		return deny(ReasonNotEntitled, "not entitled to key ID "+k.KID.String(), nil)
	}
	return nil
}
