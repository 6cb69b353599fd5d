package packager

import (
	"encoding/binary"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/media"
)

// signaling builds the DRM signaling of one key under one scheme: the
// manifest entries and the pssh boxes that may go into the init segment.
func (c *Config) signaling(scheme cenc.Scheme, key keys.ContentKey) ([]manifest.SystemSignaling, [][]byte, error) {
	var sigs []manifest.SystemSignaling
	var psshs [][]byte
	for _, sys := range c.Systems {
		sig := manifest.SystemSignaling{System: sys}
		if p, ok := c.Provided[key.KID][sys]; ok && c.useProvided(sys, scheme, p, &sig) {
			if sig.PSSH != nil {
				psshs = append(psshs, sig.PSSH)
			}
			sigs = append(sigs, sig)
			continue
		}
		switch sys {
		case drm.Widevine:
			// WidevinePsshData.protection_scheme carries the scheme 4CC.
			box := widevine.PSSH(widevine.PsshData{
				KeyIDs:           []drm.KeyID{key.KID},
				Provider:         c.WidevineProvider,
				ContentID:        []byte(c.WidevineContentID),
				ProtectionScheme: binary.BigEndian.Uint32([]byte(scheme.String())),
			}).Marshal()
			sig.PSSH = box
			psshs = append(psshs, box)
		case drm.PlayReady:
			h, err := playready.NewHeader(scheme, []drm.KeyID{key.KID}, [][]byte{key.Key}, c.PlayReadyLAURL)
			if err != nil {
				return nil, nil, fmt.Errorf("PlayReady header: %w", err)
			}
			sig.PRO = h.MarshalPRO()
			sig.PSSH = playready.PSSH(h).Marshal()
			sig.LicenseURL = c.PlayReadyLAURL
			psshs = append(psshs, sig.PSSH)
		case drm.FairPlay:
			if scheme != cenc.CBCS {
				continue // FairPlay is cbcs-only; the cenc set of --dual is DASH-only.
			}
			sig.KeyURI = fairplay.KeyURI(c.FairPlayKeyURI, key.KID)
		case drm.ClearKey:
			sig.LicenseURL = c.ClearKeyLAURL
			// EME "cenc" init data for ClearKey (W3C common pssh, v1 with KIDs).
			psshs = append(psshs, drm.CommonPSSH([]drm.KeyID{key.KID}).Marshal())
		}
		sigs = append(sigs, sig)
	}
	return sigs, psshs, nil
}

// useProvided fills sig from a key provider's signaling when it has what
// the system needs; otherwise drmpipe generates the signaling itself.
func (c *Config) useProvided(sys drm.System, scheme cenc.Scheme, p ProvidedSignaling, sig *manifest.SystemSignaling) bool {
	switch sys {
	case drm.Widevine:
		if len(p.PSSH) == 0 {
			return false
		}
		sig.PSSH = p.PSSH
	case drm.PlayReady:
		if len(p.PRO) == 0 || len(p.PSSH) == 0 {
			return false
		}
		sig.PSSH, sig.PRO, sig.LicenseURL = p.PSSH, p.PRO, c.PlayReadyLAURL
	case drm.FairPlay:
		if scheme != cenc.CBCS || p.KeyURI == "" {
			return false
		}
		sig.KeyURI = p.KeyURI
	default:
		return false
	}
	return true
}

// withoutFairPlay removes the FairPlay entry from the signaling of an AV1,
// VP9 or Opus track: FairPlay Streaming (Apple HLS Authoring Specification)
// carries H.264, HEVC, AAC, AC-3 and E-AC-3, and an EXT-X-KEY that no Apple
// player can use would only break playback there. It reports whether it
// removed one.
func withoutFairPlay(sigs []manifest.SystemSignaling, t *media.Track) ([]manifest.SystemSignaling, bool) {
	switch t.Codec {
	case media.AV1, media.VP9, media.Opus:
	default:
		return sigs, false
	}
	out := sigs[:0:0]
	for _, s := range sigs {
		if s.System != drm.FairPlay {
			out = append(out, s)
		}
	}
	return out, len(out) != len(sigs)
}
