package hls

import (
	"encoding/base64"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// KEYFORMAT values (Apple "Using content protection systems with HLS";
// hls.js mediakeys-helper KeySystemFormats). The RFC 8216 §4.3.2.4 default,
// "identity", is deliberately never written (see keyAttributes).
const (
	keyFormatFairPlay  = "com.apple.streamingkeydelivery"
	keyFormatPlayReady = "com.microsoft.playready"
	keyFormatClearKey  = "org.w3.clearkey"
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
// ClearKey. The same lists serve EXT-X-SESSION-KEY, whose METHOD, KEYFORMAT
// and KEYFORMATVERSIONS must match the EXT-X-KEY with the same URI (RFC 8216
// §4.3.4.5); every URI here is distinct per system, so the rule holds. No IV
// attribute is written: for fMP4 the IV is in the tenc/senc boxes,
// SAMPLE-AES-CTR forbids it, and FairPlay carries it with the key.
//
// ClearKey is one tag, KEYFORMAT="org.w3.clearkey", whose URI is a data: URI
// of the 16 KID bytes, with KEYID=0x<KID>. The form was settled in headless
// Chromium against drmpipe's own license server (web/tests):
//   - hls.js 1.7.4 maps org.w3.clearkey to the EME ClearKey key system and
//     takes the KID from the first 16 bytes of the URI's data, overriding
//     KEYID (LevelKey.getDecryptData, src/loader/level-key.ts); the earlier
//     form, a W3C common pssh there, gave it the pssh header as KID and no
//     license could match it.
//   - No KEYFORMAT="identity" tag: hls.js 1.7.4 prefers an identity key over
//     every other format (Fragment.decryptdata, src/loader/fragment.ts) and,
//     with METHOD=SAMPLE-AES on fMP4, then stalls without an EME session or
//     an error; shaka-player 5.2.12 reads identity as RFC 8216 §5.2 says (the
//     URI locates the AES key itself), so a KID there is used as the key and
//     decoding fails (error 3016).
//   - shaka-player's HLS parser ignores org.w3.clearkey; it plays through the
//     Widevine tag's KEYID with its ClearKey CDM mapped in (web/player).
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
			// W3C EME ClearKey; the URI data is the KID, as hls.js reads it.
			var a attrList
			a.enum("METHOD", m)
			a.quoted("URI", "data:text/plain;base64,"+base64.StdEncoding.EncodeToString(p.KID[:]))
			a.hexSeq("KEYID", p.KID[:])
			a.quoted("KEYFORMAT", keyFormatClearKey)
			a.quoted("KEYFORMATVERSIONS", "1")
			if a.err != nil {
				return nil, a.err
			}
			tags = append(tags, a.String())
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
