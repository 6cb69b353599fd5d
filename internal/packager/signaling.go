package packager

import (
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/media"
)

// signaling builds the DRM signaling of one key under one scheme: the
// manifest entries and the pssh boxes that may go into the init segment.
// A key provider's signaling for the key is used where it is complete.
// Under in-band key rotation period is the key period index, which the
// Widevine pssh carries as crypto_period_index; nil otherwise.
func (c *Config) signaling(scheme cenc.Scheme, key keys.ContentKey, systems []drm.System, period *uint32) (signaling.Set, error) {
	return signaling.Build(signaling.Params{
		CryptoPeriodIndex: period,
		Scheme:            scheme,
		KID:               key.KID,
		Key:               key.Key,
		Systems:           systems,
		WidevineProvider:  c.WidevineProvider,
		WidevineContentID: c.WidevineContentID,
		PlayReadyLAURL:    c.PlayReadyLAURL,
		ClearKeyLAURL:     c.ClearKeyLAURL,
		FairPlayKeyURI:    c.FairPlayKeyURI,
		Provided:          c.provided(key.KID),
	})
}

// provided is the key provider's signaling of kid: from Provided, else
// from a ProvidedSource key source.
func (c *Config) provided(kid drm.KeyID) map[drm.System]ProvidedSignaling {
	if p, ok := c.Provided[kid]; ok {
		return p
	}
	if src, ok := c.Keys.(ProvidedSource); ok {
		return src.ProvidedSignaling(kid)
	}
	return nil
}

// systemsFor leaves FairPlay out of the systems of an AV1, VP9 or Opus
// track: FairPlay Streaming (Apple HLS Authoring Specification) carries
// H.264, HEVC, AAC, AC-3 and E-AC-3, and an EXT-X-KEY that no Apple player
// can use would only break playback there. It reports whether it left
// FairPlay out.
func systemsFor(systems []drm.System, t *media.Track) ([]drm.System, bool) {
	switch t.Codec {
	case media.AV1, media.VP9, media.Opus:
	default:
		return systems, false
	}
	out := make([]drm.System, 0, len(systems))
	for _, s := range systems {
		if s != drm.FairPlay {
			out = append(out, s)
		}
	}
	return out, len(out) != len(systems)
}

// moofPSSHs returns the pssh boxes every moof of a key period carries under
// in-band signaling (DASH-IF IOP Part 6 §9.3: one pssh per DRM system in the
// media segments): those of set, plus the W3C common pssh listing the KID
// when ClearKey is not signaled (EME "Common SystemID and PSSH Box Format";
// Chromium's ClearKey reads KIDs from it and from nothing else in a moof).
func moofPSSHs(set signaling.Set) [][]byte {
	out := set.PSSHs()
	if _, ok := set.System(drm.ClearKey); !ok {
		out = append(out, drm.CommonPSSH([]drm.KeyID{set.KID}).Marshal())
	}
	return out
}
