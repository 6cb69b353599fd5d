package dash

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// namespaces records which extension namespaces the MPD uses.
type namespaces struct {
	cenc, mspr, dashif, clearKeyLegacy bool
}

// contentProtections returns the AdaptationSet-level ContentProtection
// descriptors of p as signaling.Set.ContentProtections gives them (first
// the mp4protection descriptor with cenc:default_KID, then one per DRM
// system in p.Systems order; FairPlay is HLS-only).
func contentProtections(p *manifest.Protection, ns *namespaces) ([]*mpd.ContentProtectionType, error) {
	cps, err := p.Signaling().ContentProtections()
	if err != nil {
		if errors.Is(err, signaling.ErrMissing) {
			return nil, fmt.Errorf("%w: %w", ErrMissingSignaling, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidPresentation, err)
	}
	out := make([]*mpd.ContentProtectionType, 0, len(cps))
	for _, c := range cps {
		if p.InBand {
			c.DefaultKID, c.PSSH, c.PRO = nil, nil, nil
		}
		cp := &mpd.ContentProtectionType{}
		cp.SchemeIdUri = mpd.AnyURI(c.SchemeIDURI)
		cp.Value = c.Value
		if c.DefaultKID != nil {
			cp.DefaultKID = c.DefaultKID.String()
			ns.cenc = true
		}
		if len(c.PSSH) > 0 {
			cp.Pssh = &mpd.PsshType{Value: base64.StdEncoding.EncodeToString(c.PSSH)}
			ns.cenc = true
		}
		if len(c.PRO) > 0 {
			cp.MSPro = &mpd.MSProType{Value: base64.StdEncoding.EncodeToString(c.PRO)}
			ns.mspr = true
		}
		if c.LicenseURL != "" {
			if err := checkURL(c.LicenseURL); err != nil {
				return nil, err
			}
			cp.LaURL = &mpd.LaURLType{Value: mpd.AnyURI(c.LicenseURL)}
			ns.dashif = true
			ns.clearKeyLegacy = ns.clearKeyLegacy || c.LegacyLicenseURL
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
	if a.Scheme != b.Scheme || a.KID != b.KID || a.InBand != b.InBand || len(a.Systems) != len(b.Systems) {
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
			legacy := bytes.Replace(l, []byte("<dashif:Laurl>"), []byte(`<clearkey:Laurl Lic_type="`+signaling.LicenseTypeClearKey+`">`), 1)
			legacy = bytes.Replace(legacy, []byte("</dashif:Laurl>"), []byte("</clearkey:Laurl>"), 1)
			out = append(out, legacy...)
		}
	}
	return out
}
