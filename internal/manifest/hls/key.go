package hls

import (
	"encoding/base64"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// KEYFORMAT values (Apple "Using content protection systems with HLS";
// hls.js mediakeys-helper KeySystemFormats; RFC 8216 §4.3.2.4 for identity).
const (
	keyFormatFairPlay  = "com.apple.streamingkeydelivery"
	keyFormatPlayReady = "com.microsoft.playready"
	keyFormatClearKey  = "org.w3.clearkey"
	keyFormatIdentity  = "identity"
)

// method returns the EXT-X-KEY METHOD of a CMAF scheme: SAMPLE-AES for cbcs
// and SAMPLE-AES-CTR for cenc (draft-pantos-hls-rfc8216bis §4.4.4.4; Apple
// HLS authoring specification).
func method(s cenc.Scheme) (string, error) {
	switch s {
	case cenc.CBCS:
		return "SAMPLE-AES", nil
	case cenc.CENC:
		return "SAMPLE-AES-CTR", nil
	}
	return "", fmt.Errorf("%w: unknown protection scheme %v", ErrInvalidPresentation, s)
}

// keyAttributes returns the attribute lists of the EXT-X-KEY tags that
// signal p, one per DRM system in this order: FairPlay, Widevine, PlayReady,
// then ClearKey as two tags. The same lists serve EXT-X-SESSION-KEY, whose
// METHOD, KEYFORMAT and KEYFORMATVERSIONS must match the EXT-X-KEY with the
// same URI (RFC 8216 §4.3.4.5). No IV attribute is written: for fMP4 the IV
// is in the tenc/senc boxes, SAMPLE-AES-CTR forbids it, and FairPlay carries
// it with the key.
//
// ClearKey gets two tags because the two web players read different key
// formats: hls.js maps KEYFORMAT="org.w3.clearkey" to the EME ClearKey key
// system and never maps "identity" to EME, while shaka-player maps
// "identity" (the RFC 8216 default) to ClearKey and ignores formats it does
// not know. org.w3.clearkey is written first because hls.js was seen to
// refuse SAMPLE-AES fMP4 when identity comes first (TESTING.md "Player
// quirks"). Caution: hls.js (LevelKey.isSupported) accepts identity only with
// METHOD=SAMPLE-AES and its Fragment.decryptdata prefers an identity key
// whenever one is present, so for cbcs the order alone may not be enough;
// only a browser test settles it. Both tags carry KEYID, so either player
// finds the key by ID; the license server URL is player configuration.
//
// FairPlay can only be signaled for cbcs (SAMPLE-AES); for a cenc track it
// is left out, as no FairPlay client can decrypt AES-CTR.
func keyAttributes(p *manifest.Protection) ([]string, error) {
	m, err := method(p.Scheme)
	if err != nil {
		return nil, err
	}
	if p.KID.IsZero() {
		return nil, fmt.Errorf("%w: all-zero default KID", ErrInvalidPresentation)
	}
	byFormat := map[drm.System][]string{}
	for _, s := range p.Systems {
		var tags []string
		switch s.System {
		case drm.FairPlay:
			if p.Scheme != cenc.CBCS {
				continue
			}
			uri := s.KeyURI
			if uri == "" {
				// Shaka Packager's default: skd:// + the KID in hex.
				uri = "skd://" + p.KID.Hex()
			}
			var a attrList
			a.enum("METHOD", m)
			a.quoted("URI", uri)
			a.quoted("KEYFORMAT", keyFormatFairPlay)
			a.quoted("KEYFORMATVERSIONS", "1")
			if a.err != nil {
				return nil, a.err
			}
			tags = append(tags, a.String())
		case drm.Widevine:
			if len(s.PSSH) == 0 {
				return nil, fmt.Errorf("%w: widevine needs a pssh box", ErrMissingSignaling)
			}
			var a attrList
			a.enum("METHOD", m)
			a.quoted("URI", "data:text/plain;base64,"+base64.StdEncoding.EncodeToString(s.PSSH))
			a.hexSeq("KEYID", p.KID[:])
			a.quoted("KEYFORMAT", drm.Widevine.SystemID().URN())
			a.quoted("KEYFORMATVERSIONS", "1")
			tags = append(tags, a.String())
		case drm.PlayReady:
			if len(s.PRO) == 0 {
				return nil, fmt.Errorf("%w: playready needs a PlayReady Object", ErrMissingSignaling)
			}
			var a attrList
			a.enum("METHOD", m)
			a.quoted("URI", "data:text/plain;charset=UTF-16;base64,"+base64.StdEncoding.EncodeToString(s.PRO))
			a.quoted("KEYFORMAT", keyFormatPlayReady)
			a.quoted("KEYFORMATVERSIONS", "1")
			tags = append(tags, a.String())
		case drm.ClearKey:
			// org.w3.clearkey carries EME "cenc" init data (the W3C common
			// pssh) like the other EME formats; identity carries the KID
			// (Shaka Packager's form). Distinct URIs keep the session-key
			// rule of RFC 8216 §4.3.4.5 satisfiable for both tags.
			uris := map[string]string{
				keyFormatClearKey: "data:text/plain;base64," + base64.StdEncoding.EncodeToString(drm.CommonPSSH([]drm.KeyID{p.KID}).Marshal()),
				keyFormatIdentity: "data:text/plain;base64," + base64.StdEncoding.EncodeToString(p.KID[:]),
			}
			for _, f := range []string{keyFormatClearKey, keyFormatIdentity} {
				var a attrList
				a.enum("METHOD", m)
				a.quoted("URI", uris[f])
				a.hexSeq("KEYID", p.KID[:])
				a.quoted("KEYFORMAT", f)
				a.quoted("KEYFORMATVERSIONS", "1")
				if a.err != nil {
					return nil, a.err
				}
				tags = append(tags, a.String())
			}
		default:
			return nil, fmt.Errorf("%w: unknown DRM system %v", ErrInvalidPresentation, s.System)
		}
		byFormat[s.System] = tags
	}
	var out []string
	for _, s := range []drm.System{drm.FairPlay, drm.Widevine, drm.PlayReady, drm.ClearKey} {
		out = append(out, byFormat[s]...)
	}
	return out, nil
}
