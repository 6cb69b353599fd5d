package entitlement

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// LicenseKeys says which keys a license that drmpipe builds itself (W3C EME
// Clear Key, whose license is a JWK Set that may hold any number of keys,
// EME §9.1.4) carries. Vendor licenses (Widevine, PlayReady, FairPlay) are
// built by the vendor's server and do not follow it.
type LicenseKeys uint8

// License key scopes. The zero value means "not set" and becomes
// DefaultLicenseKeys.
const (
	// LicenseKeysEntitled: the requested keys first, then every other key
	// of the content the token entitles (same crypto periods), so the first
	// license request of a session unlocks every track (audio and video
	// under per-track-type keys, every rendition of an ABR ladder).
	LicenseKeysEntitled LicenseKeys = iota + 1
	// LicenseKeysRequested: exactly the requested keys, one license per
	// key for players that ask per key.
	LicenseKeysRequested
)

// DefaultLicenseKeys is the scope of content whose policy sets none.
const DefaultLicenseKeys = LicenseKeysEntitled

// MaxLicenseKeys bounds the keys one license carries beyond the requested
// ones (the same bound as the token's kids claim).
const MaxLicenseKeys = maxListClaim

var licenseKeysNames = map[LicenseKeys]string{LicenseKeysEntitled: "entitled", LicenseKeysRequested: "requested"}

// String returns "entitled" or "requested".
func (l LicenseKeys) String() string {
	if n, ok := licenseKeysNames[l]; ok {
		return n
	}
	return fmt.Sprintf("LicenseKeys(%d)", uint8(l))
}

// ParseLicenseKeys parses "entitled" or "requested", case-insensitively.
func ParseLicenseKeys(s string) (LicenseKeys, error) {
	for l, n := range licenseKeysNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("%w: license keys %q (want entitled or requested)", ErrConfig, s)
}

// ContentKeyRef is one key of a content as the key store lists it, without
// key material.
type ContentKeyRef struct {
	KID       drm.KeyID
	ContentID string
	TrackType keys.TrackType
	// Period is the crypto period (0 without key rotation).
	Period uint32
	// Active is false for a key revoked in the store.
	Active bool
}

// ContentKeyLister lists the keys of a content (the key store).
type ContentKeyLister interface {
	ContentKeys(ctx context.Context, contentID string) ([]ContentKeyRef, error)
}

// LicenseKIDs returns the key IDs a license answering a request for
// requested carries under dec. The requested KIDs come first, unchanged:
// the license handler still refuses the whole request when one of them may
// not be released (Decision.MayRelease, or an unknown key). Under
// LicenseKeysEntitled (the content's policy) the other keys of
// dec.ContentID follow, each one only if Decision.MayRelease allows it
// (active in the store, the token's kids and tt claims), in a crypto
// period of a requested key and not on the revocation list; at most
// MaxLicenseKeys of them, in the store's order (track type, period). Keys
// of another content are never added. Without Deps.ContentKeys the license
// carries the requested KIDs only.
func (s *Service) LicenseKIDs(ctx context.Context, dec Decision, requested []drm.KeyID) ([]drm.KeyID, error) {
	out := slices.Clone(requested)
	if s.deps.ContentKeys == nil || dec.ContentID == "" || len(requested) == 0 ||
		s.cfg.Policy.For(dec.ContentID).LicenseKeys != LicenseKeysEntitled {
		return out, nil
	}
	list, err := s.deps.ContentKeys.ContentKeys(ctx, dec.ContentID)
	if err != nil {
		return nil, deny(ReasonUnavailable, "key store unavailable", err)
	}
	periods := map[uint32]bool{}
	for _, k := range list {
		if slices.Contains(requested, k.KID) {
			periods[k.Period] = true
		}
	}
	added := 0
	for _, k := range list {
		if added == MaxLicenseKeys {
			break
		}
		if !periods[k.Period] || slices.Contains(out, k.KID) || dec.MayRelease(k) != nil {
			continue
		}
		revoked, err := s.deps.Revocations.IsRevoked(ctx, RevokeKID, k.KID.String())
		if err != nil {
			return nil, deny(ReasonUnavailable, "revocation list unavailable", err)
		}
		if revoked {
			continue
		}
		out = append(out, k.KID)
		added++
	}
	return out, nil
}
