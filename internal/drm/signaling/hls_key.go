package signaling

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
)

// Data URI prefixes of the EXT-X-KEY URIs (RFC 2397): base64 binary data,
// and the PlayReady Object (UTF-16 WRMHEADER inside) as Microsoft's
// "PlayReady HLS" signaling writes it.
const (
	dataURIBase64 = "data:text/plain;base64,"
	dataURIPRO    = "data:text/plain;charset=UTF-16;base64,"
)

// HLSKey is one EXT-X-KEY (or EXT-X-SESSION-KEY) attribute list.
type HLSKey struct {
	System drm.System
	Method string
	URI    string
	// KeyID, when set, is written as KEYID (Widevine and ClearKey).
	KeyID             *drm.KeyID
	KeyFormat         string
	KeyFormatVersions string
}

// Method returns the EXT-X-KEY METHOD of a CMAF scheme: SAMPLE-AES for cbcs
// and SAMPLE-AES-CTR for cenc (draft-pantos-hls-rfc8216bis §4.4.4.4; Apple
// HLS authoring specification).
func Method(s cenc.Scheme) (string, error) {
	switch s {
	case cenc.CBCS:
		return MethodSampleAES, nil
	case cenc.CENC:
		return MethodSampleAESCTR, nil
	}
	return "", fmt.Errorf("%w: unknown protection scheme %v", ErrInvalid, s)
}

// HLSKeys returns the EXT-X-KEY attribute lists of s, one per system in
// this order: FairPlay, Widevine, PlayReady, ClearKey. The same lists serve
// EXT-X-SESSION-KEY, whose METHOD, KEYFORMAT and KEYFORMATVERSIONS must
// match the EXT-X-KEY with the same URI (RFC 8216 §4.3.4.5); every URI here
// is distinct per system, so the rule holds. No IV attribute is written:
// for fMP4 the IV is in the tenc/senc boxes, SAMPLE-AES-CTR forbids it, and
// FairPlay carries it with the key.
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
// FairPlay can only be signaled for cbcs (SAMPLE-AES); for a cenc Set it is
// left out, as no FairPlay client can decrypt AES-CTR.
func (s Set) HLSKeys() ([]HLSKey, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	byFormat := map[drm.System]HLSKey{}
	for _, x := range s.Systems {
		k, ok, err := x.HLSKey(s.Scheme, s.KID)
		if err != nil {
			return nil, err
		}
		if ok {
			byFormat[x.System] = k
		}
	}
	var out []HLSKey
	for _, sys := range []drm.System{drm.FairPlay, drm.Widevine, drm.PlayReady, drm.ClearKey} {
		if k, ok := byFormat[sys]; ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// HLSKey returns the EXT-X-KEY of s for kid under scheme (see Set.HLSKeys);
// ok is false for FairPlay under cenc, which has none.
func (s System) HLSKey(scheme cenc.Scheme, kid drm.KeyID) (k HLSKey, ok bool, err error) {
	m, err := Method(scheme)
	if err != nil {
		return k, false, err
	}
	k = HLSKey{System: s.System, Method: m, KeyFormatVersions: KeyFormatVersions}
	switch s.System {
	case drm.FairPlay:
		if scheme != cenc.CBCS {
			return k, false, nil
		}
		k.URI = s.KeyURI
		if k.URI == "" {
			k.URI = fairplay.KeyURI("", kid) // Shaka Packager's default: skd:// + the KID in hex.
		}
		k.KeyFormat = KeyFormatFairPlay
	case drm.Widevine:
		if len(s.PSSH) == 0 {
			return k, false, fmt.Errorf("%w: widevine needs a pssh box", ErrMissing)
		}
		k.URI = dataURIBase64 + base64.StdEncoding.EncodeToString(s.PSSH)
		k.KeyID = &kid
		k.KeyFormat = drm.Widevine.SystemID().URN()
	case drm.PlayReady:
		if len(s.PRO) == 0 {
			return k, false, fmt.Errorf("%w: playready needs a PlayReady Object", ErrMissing)
		}
		k.URI = dataURIPRO + base64.StdEncoding.EncodeToString(s.PRO)
		k.KeyFormat = KeyFormatPlayReady
	case drm.ClearKey:
		// W3C EME ClearKey; the URI data is the KID, as hls.js reads it.
		k.URI = dataURIBase64 + base64.StdEncoding.EncodeToString(kid[:])
		k.KeyID = &kid
		k.KeyFormat = KeyFormatClearKey
	default:
		return k, false, fmt.Errorf("%w: unknown DRM system %v", ErrInvalid, s.System)
	}
	return k, true, nil
}

// AttributeList renders k as an RFC 8216 §4.2 attribute-list: METHOD, URI,
// KEYID, KEYFORMAT, KEYFORMATVERSIONS. A quoted-string "MUST NOT contain
// CR, LF or the double quote character"; such a value is an ErrInvalid.
func (k HLSKey) AttributeList() (string, error) {
	var b strings.Builder
	b.WriteString("METHOD=" + k.Method)
	quoted := func(name, v string) error {
		if strings.ContainsAny(v, "\"\r\n") {
			return fmt.Errorf("%w: attribute %s cannot hold a double quote, CR or LF", ErrInvalid, name)
		}
		b.WriteString("," + name + `="` + v + `"`)
		return nil
	}
	if err := quoted("URI", k.URI); err != nil {
		return "", err
	}
	if k.KeyID != nil {
		// hexadecimal-sequence, upper case as RFC 8216 §4.2 writes it.
		b.WriteString(",KEYID=0x" + strings.ToUpper(hex.EncodeToString(k.KeyID[:])))
	}
	if err := quoted("KEYFORMAT", k.KeyFormat); err != nil {
		return "", err
	}
	if err := quoted("KEYFORMATVERSIONS", k.KeyFormatVersions); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Tag renders k as a whole #EXT-X-KEY line, or #EXT-X-SESSION-KEY for a
// multivariant playlist (RFC 8216 §4.3.2.4, §4.3.4.5).
func (k HLSKey) Tag(session bool) (string, error) {
	a, err := k.AttributeList()
	if err != nil {
		return "", err
	}
	if session {
		return "#EXT-X-SESSION-KEY:" + a, nil
	}
	return "#EXT-X-KEY:" + a, nil
}
