package entitlement

import (
	"context"
	"slices"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/enum"
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

var licenseKeysNames = enum.Names[LicenseKeys]{LicenseKeysEntitled: "entitled", LicenseKeysRequested: "requested"}

// String returns "entitled" or "requested".
func (l LicenseKeys) String() string { return licenseKeysNames.String(l) }

// ParseLicenseKeys parses "entitled" or "requested", case-insensitively.
func ParseLicenseKeys(s string) (LicenseKeys, error) {
	return licenseKeysNames.Parse(s, ErrConfig, "license keys")
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

// PeriodTimesLister reads the time ranges recorded for a content's key
// periods (keys.PeriodTimesStore), in index order.
type PeriodTimesLister interface {
	ListPeriodTimes(ctx context.Context, contentID string) ([]keys.PeriodTimes, error)
}

// DefaultLookAhead is the look-ahead window of the server's configuration
// (license.look_ahead): one following key period.
const DefaultLookAhead = 1

// MaxLookAhead bounds Config.LookAhead.
const MaxLookAhead = 16

// slot is one key slot in one key period.
type slot struct {
	tt     keys.TrackType
	period uint32
}

// LicenseKIDs returns the key IDs a license answering a request for
// requested carries under dec. The requested KIDs come first, unchanged:
// the license handler still refuses the whole request when one of them may
// not be released (Decision.MayRelease, or an unknown key). Under
// LicenseKeysEntitled (the content's policy) the other keys of
// dec.ContentID in the key period of a requested key follow. Then, with
// Config.LookAhead = W > 0 (look-ahead licenses under key rotation), the
// keys of the next periods p+1 .. p+W of each requested key's period p:
// under LicenseKeysEntitled every key of those periods, under
// LicenseKeysRequested the key of the requested key's own slot (track
// type) only; a period is added only while the token stays valid past the
// boundary where it starts (lookAheadPeriods). Every added key passes
// Decision.MayRelease (active in the store, the token's kids and tt
// claims) and is not on the revocation list; at most MaxLicenseKeys are
// added, the current period's keys first, each group in the store's order
// (track type, period). Keys of another content are never added. Without
// Deps.ContentKeys the license carries the requested KIDs only.
func (s *Service) LicenseKIDs(ctx context.Context, dec Decision, requested []drm.KeyID) ([]drm.KeyID, error) {
	out := slices.Clone(requested)
	entitled := s.cfg.Policy.For(dec.ContentID).LicenseKeys == LicenseKeysEntitled
	window := s.lookAhead(dec.ContentID)
	if s.deps.ContentKeys == nil || dec.ContentID == "" || len(requested) == 0 || !entitled && window <= 0 {
		return out, nil
	}
	list, err := s.deps.ContentKeys.ContentKeys(ctx, dec.ContentID)
	if err != nil {
		return nil, deny(ReasonUnavailable, "key store unavailable", err)
	}
	periods := map[uint32]bool{}
	var slots []slot
	for _, k := range list {
		if slices.Contains(requested, k.KID) {
			periods[k.Period] = true
			slots = append(slots, slot{k.TrackType, k.Period})
		}
	}
	ahead, err := s.lookAheadPeriods(ctx, dec, window, periods)
	if err != nil {
		return nil, err
	}
	aheadSlots := map[slot]bool{}
	for _, sl := range slots {
		for p := sl.period + 1; ahead[p] && p > sl.period && p-sl.period <= uint32(window); p++ {
			aheadSlots[slot{sl.tt, p}] = true
		}
	}
	current := func(k ContentKeyRef) bool { return entitled && periods[k.Period] }
	next := func(k ContentKeyRef) bool {
		return !periods[k.Period] && (entitled && ahead[k.Period] || aheadSlots[slot{k.TrackType, k.Period}])
	}
	added := 0
	for _, want := range []func(ContentKeyRef) bool{current, next} {
		for _, k := range list {
			if added == MaxLicenseKeys {
				return out, nil
			}
			if !want(k) || slices.Contains(out, k.KID) || dec.MayRelease(k) != nil {
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
	}
	return out, nil
}

// lookAhead is the look-ahead window of contentID: its policy override,
// else Config.LookAhead.
func (s *Service) lookAhead(contentID string) int {
	if o, ok := s.cfg.Policy.Content[contentID]; ok && o.LookAhead != nil {
		return *o.LookAhead
	}
	return s.cfg.LookAhead
}

// lookAheadPeriods returns the key periods a look-ahead license may add
// after the periods from: p+1 .. p+window for each p, as far as the
// token stays valid past each period's start. "Valid" ends at the
// decision's TokenExpiry, or earlier at now + Policy.LicenseDuration (which
// the token's playback end already tightens). Period q after p starts:
//   - at its recorded wall-clock start (live: keys.PeriodTimes.WallClock);
//   - for VOD periods with recorded media-time ranges, at the latest after
//     playing p .. q-1 whole from now (a viewer at the start of p), so the
//     token must outlast now + their durations;
//   - for VOD periods without recorded times (drmpipe package --key-period
//     with --key keys records none), at an unknown media time that a
//     viewer near the end of p reaches at once: the token, valid now, is
//     taken as valid past the boundary, and the window alone bounds how
//     far ahead a license reaches.
//
// A later period is never added once an earlier one fails the rule.
func (s *Service) lookAheadPeriods(ctx context.Context, dec Decision, window int, from map[uint32]bool) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	if window <= 0 || len(from) == 0 {
		return out, nil
	}
	times := map[uint32]keys.PeriodTimes{}
	if s.deps.PeriodTimes != nil {
		list, err := s.deps.PeriodTimes.ListPeriodTimes(ctx, dec.ContentID)
		if err != nil {
			return nil, deny(ReasonUnavailable, "key store unavailable", err)
		}
		for _, t := range list {
			times[t.Period] = t
		}
	}
	now := s.deps.Clock()
	validUntil := dec.TokenExpiry
	if d := dec.Policy.LicenseDuration; d > 0 && (validUntil.IsZero() || now.Add(d).Before(validUntil)) {
		validUntil = now.Add(d)
	}
	validPast := func(boundary time.Time) bool { return validUntil.IsZero() || validUntil.After(boundary) }
	for p := range from {
		var played time.Duration // media time from p's start to q's
		for q := p + 1; q > p && q-p <= uint32(window); q++ {
			prev, prevKnown := times[q-1]
			cur, curKnown := times[q]
			var ok bool
			switch {
			case curKnown && cur.WallClock:
				ok = validPast(time.Unix(0, 0).Add(cur.Start))
			case prevKnown && !prev.WallClock:
				played += prev.End - prev.Start
				ok = validPast(now.Add(played))
			default:
				ok = validPast(now)
			}
			if !ok {
				break
			}
			out[q] = true
		}
	}
	return out, nil
}
