package dash

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// XML namespaces of the content protection extensions.
const (
	// nsCENC holds cenc:default_KID and cenc:pssh (ISO/IEC 23001-7 §11.2).
	nsCENC = "urn:mpeg:cenc:2013"
	// nsMSPR holds mspr:pro (PlayReady "MPEG-DASH content protection" spec §2.1.2).
	nsMSPR = "urn:microsoft:playready"
	// nsDASHIF holds dashif:Laurl (DASH-IF IOP v5 Part 6 content protection
	// schema, the namespace dash-mpd writes and shaka-player's
	// content_protection.js reads; dash.js matches the "dashif" prefix). The
	// older DASH-IF text used "https://dashif.org/" with a lowercase laurl,
	// which shaka-player does not read.
	nsDASHIF = "https://dashif.org/CPS"
	// nsClearKeyLegacy holds the legacy clearkey:Laurl (Lic_type="EME-1.0")
	// of the DASH-IF ClearKey guidelines, still read by dash.js and shaka-player.
	nsClearKeyLegacy = "http://dashif.org/guidelines/clearKey"

	// schemeMP4Protection is the Common Encryption scheme descriptor
	// (ISO/IEC 23009-1 §5.8.5.2.2); @value is the scheme_type 4CC.
	schemeMP4Protection = "urn:mpeg:dash:mp4protection:2011"
)

// namespaces records which extension namespaces the MPD uses.
type namespaces struct {
	cenc, mspr, dashif, clearKeyLegacy bool
}

// contentProtections returns the AdaptationSet-level ContentProtection
// descriptors of p (DASH-IF IOP Security "Signaling presence of encrypted
// content"): first the mp4protection descriptor with the scheme and
// cenc:default_KID (UUID form, tenc byte order), then one descriptor per DRM
// system in p.Systems order. FairPlay has no DASH signaling and is skipped.
func contentProtections(p *manifest.Protection, ns *namespaces) ([]*mpd.ContentProtectionType, error) {
	scheme := p.Scheme.String()
	if scheme != "cenc" && scheme != "cbcs" {
		return nil, fmt.Errorf("%w: unknown protection scheme %s", ErrInvalidPresentation, scheme)
	}
	if p.KID.IsZero() {
		return nil, fmt.Errorf("%w: all-zero default KID", ErrInvalidPresentation)
	}
	ns.cenc = true
	mp4 := &mpd.ContentProtectionType{DefaultKID: p.KID.String()}
	mp4.SchemeIdUri = schemeMP4Protection
	mp4.Value = scheme
	out := []*mpd.ContentProtectionType{mp4}

	for _, s := range p.Systems {
		cp := &mpd.ContentProtectionType{}
		cp.SchemeIdUri = mpd.AnyURI(s.System.SystemID().URN())
		switch s.System {
		case drm.Widevine:
			if len(s.PSSH) == 0 {
				return nil, fmt.Errorf("%w: widevine needs a pssh box", ErrMissingSignaling)
			}
			cp.Pssh = &mpd.PsshType{Value: base64.StdEncoding.EncodeToString(s.PSSH)}
		case drm.PlayReady:
			// "MSPR 2.0" with both cenc:pssh and mspr:pro, as Microsoft
			// recommends (mspr:pro for clients older than Windows RS5).
			if len(s.PSSH) == 0 && len(s.PRO) == 0 {
				return nil, fmt.Errorf("%w: playready needs a pssh box or a PlayReady Object", ErrMissingSignaling)
			}
			cp.Value = "MSPR 2.0"
			if len(s.PSSH) > 0 {
				cp.Pssh = &mpd.PsshType{Value: base64.StdEncoding.EncodeToString(s.PSSH)}
			}
			if len(s.PRO) > 0 {
				cp.MSPro = &mpd.MSProType{Value: base64.StdEncoding.EncodeToString(s.PRO)}
				ns.mspr = true
			}
		case drm.ClearKey:
			// DASH-IF IOP Security, "W3C Clear Key": value "ClearKey1.0".
			cp.Value = "ClearKey1.0"
			if s.LicenseURL != "" {
				ns.clearKeyLegacy = true
			}
		case drm.FairPlay:
			continue
		default:
			return nil, fmt.Errorf("%w: unknown DRM system %v", ErrInvalidPresentation, s.System)
		}
		if s.LicenseURL != "" {
			if err := checkURL(s.LicenseURL); err != nil {
				return nil, err
			}
			cp.LaURL = &mpd.LaURLType{Value: mpd.AnyURI(s.LicenseURL)}
			ns.dashif = true
		}
		out = append(out, cp)
	}
	return out, nil
}

func checkURL(u string) error {
	if strings.ContainsAny(u, "\r\n\t ") {
		return fmt.Errorf("%w: license URL contains whitespace", ErrInvalidPresentation)
	}
	return nil
}

// sameProtection reports whether a and b produce the same MPD signaling.
func sameProtection(a, b *manifest.Protection) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Scheme != b.Scheme || a.KID != b.KID || len(a.Systems) != len(b.Systems) {
		return false
	}
	for i := range a.Systems {
		x, y := a.Systems[i], b.Systems[i]
		if x.System != y.System || !bytes.Equal(x.PSSH, y.PSSH) || !bytes.Equal(x.PRO, y.PRO) ||
			x.LicenseURL != y.LicenseURL {
			return false
		}
	}
	return true
}

// clearKeySchemeAttr is how the ClearKey descriptor's schemeIdUri is written.
var clearKeySchemeAttr = []byte(`schemeIdUri="` + drm.ClearKey.SystemID().URN() + `"`)

// addLegacyClearKeyLaurl adds, after each dashif:Laurl of a ClearKey
// descriptor, the same URL as the legacy
// <clearkey:Laurl Lic_type="EME-1.0"> of the DASH-IF ClearKey guidelines,
// which older dash.js releases read. dash-mpd has no field for this element,
// so it is inserted into the encoded text; the line it copies was written by
// the same encoder, so its URL is already escaped.
func addLegacyClearKeyLaurl(in []byte) []byte {
	lines := bytes.SplitAfter(in, []byte("\n"))
	out := make([]byte, 0, len(in)+256)
	inClearKey := false
	for _, l := range lines {
		out = append(out, l...)
		switch {
		case bytes.Contains(l, []byte("<ContentProtection ")) && bytes.Contains(l, clearKeySchemeAttr):
			inClearKey = !bytes.HasSuffix(bytes.TrimSpace(l), []byte("/>"))
		case inClearKey && bytes.Contains(l, []byte("</ContentProtection>")):
			inClearKey = false
		case inClearKey && bytes.Contains(l, []byte("<dashif:Laurl>")):
			legacy := bytes.Replace(l, []byte("<dashif:Laurl>"), []byte(`<clearkey:Laurl Lic_type="EME-1.0">`), 1)
			legacy = bytes.Replace(legacy, []byte("</dashif:Laurl>"), []byte("</clearkey:Laurl>"), 1)
			out = append(out, legacy...)
		}
	}
	return out
}
