package signaling

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// ContentProtection is one DASH ContentProtection descriptor (ISO/IEC
// 23009-1 §5.8.4.1, DASH-IF IOP Security "Signaling presence of encrypted
// content"). manifest/dash writes it into the MPD; ChildrenXML writes its
// children as the text SPEKE hands an encryptor, so both carry the same
// elements.
type ContentProtection struct {
	SchemeIDURI string
	Value       string
	// DefaultKID is cenc:default_KID (the mp4protection descriptor only).
	DefaultKID *drm.KeyID
	// PSSH is written as cenc:pssh, PRO as mspr:pro.
	PSSH []byte
	PRO  []byte
	// LicenseURL is written as dashif:Laurl.
	LicenseURL string
	// LegacyLicenseURL also writes LicenseURL as the legacy
	// <clearkey:Laurl Lic_type="EME-1.0"> of the DASH-IF ClearKey
	// guidelines, which older dash.js releases read.
	LegacyLicenseURL bool
}

// ContentProtections returns the descriptors of s in MPD order: first the
// mp4protection descriptor with the scheme and cenc:default_KID (UUID form,
// tenc byte order), then one per system in Systems order. FairPlay has no
// DASH signaling and is skipped.
func (s Set) ContentProtections() ([]ContentProtection, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	kid := s.KID
	out := []ContentProtection{{SchemeIDURI: SchemeMP4Protection, Value: s.Scheme.String(), DefaultKID: &kid}}
	for _, x := range s.Systems {
		cp, ok, err := x.ContentProtection()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cp)
		}
	}
	return out, nil
}

// ContentProtection returns the descriptor of s; ok is false for FairPlay,
// an HLS-only system.
func (s System) ContentProtection() (cp ContentProtection, ok bool, err error) {
	cp = ContentProtection{SchemeIDURI: s.System.SystemID().URN(), LicenseURL: s.LicenseURL}
	switch s.System {
	case drm.Widevine:
		if len(s.PSSH) == 0 {
			return cp, false, fmt.Errorf("%w: widevine needs a pssh box", ErrMissing)
		}
		cp.PSSH = s.PSSH
	case drm.PlayReady:
		// "MSPR 2.0" with both cenc:pssh and mspr:pro, as Microsoft
		// recommends (mspr:pro for clients older than Windows RS5).
		if len(s.PSSH) == 0 && len(s.PRO) == 0 {
			return cp, false, fmt.Errorf("%w: playready needs a pssh box or a PlayReady Object", ErrMissing)
		}
		cp.Value, cp.PSSH, cp.PRO = ValuePlayReady, s.PSSH, s.PRO
	case drm.ClearKey:
		// DASH-IF IOP Security, "W3C Clear Key": no pssh in this descriptor
		// (the W3C common pssh belongs to the 1077efec… system, see
		// CommonContentProtection).
		cp.Value = ValueClearKey
		cp.LegacyLicenseURL = s.LicenseURL != ""
	case drm.FairPlay:
		return cp, false, nil
	default:
		return cp, false, fmt.Errorf("%w: unknown DRM system %v", ErrInvalid, s.System)
	}
	return cp, true, nil
}

// CommonContentProtection returns the descriptor of the W3C common system
// (1077efec…, W3C EME "Common SystemID and PSSH Box Format") for a ClearKey
// System: its pssh box with the KIDs and the license URL. ok is false for
// other systems.
func (s System) CommonContentProtection() (cp ContentProtection, ok bool) {
	if s.System != drm.ClearKey {
		return cp, false
	}
	return ContentProtection{SchemeIDURI: drm.SystemID(drm.CommonSystemID).URN(), PSSH: s.PSSH, LicenseURL: s.LicenseURL}, true
}

// ChildrenXML returns the child elements of cp as standalone XML, each
// element declaring its namespace (ISO/IEC 23001-7 §11.2.1 cenc:pssh, then
// mspr:pro, dashif:Laurl, clearkey:Laurl, the order the MPD has them): the
// ContentProtectionData of SPEKE v2 (CPIX 2.3 §5.3.5), which the SPEKE v2
// test suite parses wrapped in one element. nil when cp has no children.
func (cp ContentProtection) ChildrenXML() []byte {
	var b bytes.Buffer
	elem := func(prefix, ns, local, attrs, text string) {
		b.WriteString("<" + prefix + ":" + local + " xmlns:" + prefix + `="` + ns + `"` + attrs + ">")
		_ = xml.EscapeText(&b, []byte(text)) // a bytes.Buffer does not fail
		b.WriteString("</" + prefix + ":" + local + ">")
	}
	if len(cp.PSSH) > 0 {
		elem(PrefixCENC, NamespaceCENC, "pssh", "", base64.StdEncoding.EncodeToString(cp.PSSH))
	}
	if len(cp.PRO) > 0 {
		elem(PrefixMSPR, NamespaceMSPR, "pro", "", base64.StdEncoding.EncodeToString(cp.PRO))
	}
	if cp.LicenseURL != "" {
		elem(PrefixDASHIF, NamespaceDASHIF, "Laurl", "", cp.LicenseURL)
		if cp.LegacyLicenseURL {
			elem(PrefixClearKey, NamespaceClearKey, "Laurl", ` Lic_type="`+LicenseTypeClearKey+`"`, cp.LicenseURL)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Bytes()
}
