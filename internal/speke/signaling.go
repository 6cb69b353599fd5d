package speke

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// HLS KEYFORMAT values (Apple "Using content protection systems with HLS";
// hls.js KeySystemFormats).
const (
	keyFormatPlayReady = "com.microsoft.playready"
	keyFormatClearKey  = "org.w3.clearkey"
	namespaceCENC      = "urn:mpeg:cenc:2013"
	namespaceMSPR      = "urn:microsoft:playready"
	namespaceDASHIF    = "https://dashif.org/"
)

// systemData is what one DRM system signals for one key.
type systemData struct {
	pssh      []byte // whole pssh box; nil for FairPlay
	pro       []byte // PlayReady Object
	cpd       []byte // ContentProtectionData XML fragment
	uri       string // EXT-X-KEY URI
	keyFormat string
	keyID     bool // write KEYID in the HLS tags
}

// buildSystem computes the signaling of sys for key (drm-specs.md §3, §4):
// Widevine pssh (provider, content ID, protection scheme, crypto period
// index with rotation), PlayReady header 4.0 (cenc) or 4.3 (cbcs) as PRO and
// pssh, FairPlay skd:// URI, ClearKey as the W3C common pssh with the
// license URL as dashif:laurl.
func (h *handler) buildSystem(sys drm.System, key keys.ContentKey, scheme cenc.Scheme, contentID string, period uint32, rotation bool) (systemData, error) {
	var sd systemData
	kid := key.KID
	switch sys {
	case drm.Widevine:
		d := widevine.PsshData{KeyIDs: []drm.KeyID{kid}, Provider: h.cfg.WidevineProvider, ContentID: []byte(contentID),
			ProtectionScheme: binary.BigEndian.Uint32([]byte(scheme.String()))}
		if rotation {
			p := period
			d.CryptoPeriodIndex = &p
		}
		sd.pssh = widevine.PSSH(d).Marshal()
		sd.cpd = psshElement(sd.pssh)
		sd.uri = "data:text/plain;base64," + base64.StdEncoding.EncodeToString(sd.pssh)
		sd.keyFormat = drm.Widevine.SystemID().URN()
		sd.keyID = true
	case drm.PlayReady:
		hdr, err := playready.NewHeader(scheme, []drm.KeyID{kid}, [][]byte{key.Key}, h.cfg.PlayReadyLAURL)
		if err != nil {
			return sd, fmt.Errorf("PlayReady header: %w", err)
		}
		sd.pro = hdr.MarshalPRO()
		sd.pssh = playready.PSSH(hdr).Marshal()
		var b bytes.Buffer
		b.Write(psshElement(sd.pssh))
		b.WriteString(`<mspr:pro xmlns:mspr="` + namespaceMSPR + `">` + base64.StdEncoding.EncodeToString(sd.pro) + `</mspr:pro>`)
		sd.cpd = b.Bytes()
		sd.uri = "data:text/plain;charset=UTF-16;base64," + base64.StdEncoding.EncodeToString(sd.pro)
		sd.keyFormat = keyFormatPlayReady
	case drm.FairPlay:
		sd.uri = fairplay.KeyURI(h.cfg.FairPlayKeyURI, kid)
		sd.keyFormat = fairplay.KeyFormat
	case drm.ClearKey:
		sd.pssh = drm.CommonPSSH([]drm.KeyID{kid}).Marshal()
		var b bytes.Buffer
		b.Write(psshElement(sd.pssh))
		if h.cfg.ClearKeyLAURL != "" {
			b.WriteString(`<dashif:laurl xmlns:dashif="` + namespaceDASHIF + `">`)
			_ = xml.EscapeText(&b, []byte(h.cfg.ClearKeyLAURL))
			b.WriteString(`</dashif:laurl>`)
		}
		sd.cpd = b.Bytes()
		sd.uri = "data:text/plain;base64," + base64.StdEncoding.EncodeToString(sd.pssh)
		sd.keyFormat = keyFormatClearKey
		sd.keyID = true
	default:
		return sd, fmt.Errorf("no signaling for %v", sys)
	}
	return sd, nil
}

// psshElement is the <cenc:pssh> child of a DASH ContentProtection element,
// standalone with its namespace declaration (ISO/IEC 23009-1 + ISO/IEC
// 23001-7 §11.2.1; what the SPEKE v2 test suite looks for in
// ContentProtectionData).
func psshElement(box []byte) []byte {
	return []byte(`<cenc:pssh xmlns:cenc="` + namespaceCENC + `">` + base64.StdEncoding.EncodeToString(box) + `</cenc:pssh>`)
}

// hlsLine is a whole #EXT-X-KEY (media) or #EXT-X-SESSION-KEY (master) tag;
// both carry the same METHOD, URI, KEYFORMAT and KEYFORMATVERSIONS (RFC 8216
// §4.3.4.5). METHOD is SAMPLE-AES for cbcs and SAMPLE-AES-CTR for cenc. No
// IV attribute: for fMP4 the IV is in tenc/senc, and FairPlay carries it
// with the key (CPIX explicitIV).
func hlsLine(master bool, scheme cenc.Scheme, kid drm.KeyID, sd systemData) string {
	tag := "#EXT-X-KEY:"
	if master {
		tag = "#EXT-X-SESSION-KEY:"
	}
	method := "SAMPLE-AES"
	if scheme == cenc.CENC {
		method = "SAMPLE-AES-CTR"
	}
	var b strings.Builder
	b.WriteString(tag + "METHOD=" + method + `,URI="` + sd.uri + `"`)
	if sd.keyID {
		b.WriteString(",KEYID=0x" + strings.ToUpper(kid.Hex()))
	}
	b.WriteString(`,KEYFORMAT="` + sd.keyFormat + `",KEYFORMATVERSIONS="1"`)
	return b.String()
}

// fillSystem writes sd into a DRMSystem of the response. SPEKE v1 fills only
// the elements the request has; v2 always returns PSSH and
// ContentProtectionData for systems that have them (the v2 test suite
// expects them) and drops them for FairPlay, which has neither.
func fillSystem(s *cpix.DRMSystem, sd systemData, scheme cenc.Scheme, v2 bool) {
	set := func(dst **[]byte, v []byte, always bool) {
		switch {
		case v == nil:
			*dst = nil
		case *dst != nil || always:
			*dst = cpix.Present(v)
		}
	}
	set(&s.PSSH, sd.pssh, v2)
	set(&s.ContentProtectionData, sd.cpd, v2)
	set(&s.URIExtXKey, []byte(sd.uri), false)
	set(&s.SmoothStreamingProtectionHeaderData, sd.pro, false)
	set(&s.ProtectionHeader, sd.pro, false)
	set(&s.KeyFormat, []byte(sd.keyFormat), false)
	set(&s.KeyFormatVersions, []byte("1"), false)
	for i := range s.HLSSignalingData {
		h := &s.HLSSignalingData[i]
		h.Value = []byte(hlsLine(h.Playlist.IsMaster(), scheme, s.KID, sd))
	}
}
