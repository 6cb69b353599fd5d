// Package playready builds and parses the PlayReady Header Object (PRO) and
// the WRMHEADER XML it carries (Microsoft PlayReady Header Specification),
// and wraps the PRO in a pssh box, and checks the license challenge body
// (DecodeChallenge). Data formats only.
package playready

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
)

// WRMHEADER versions and algorithm IDs (PlayReady Header Specification §3).
const (
	Version40 = "4.0.0.0"
	Version41 = "4.1.0.0"
	Version42 = "4.2.0.0"
	Version43 = "4.3.0.0"

	AlgAESCTR = "AESCTR"
	AlgAESCBC = "AESCBC"

	headerNamespace = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"
	recordTypeRMH   = 1 // PlayReady record type: rights management header
)

// Header is a WRMHEADER.
type Header struct {
	// Version is "4.0.0.0" … "4.3.0.0" (NewHeader picks 4.0 for cenc, 4.3 for cbcs).
	Version string
	// KIDs are in big-endian UUID form; they are written in the little-endian
	// GUID layout PlayReady uses (Microsoft "DASH Content Protection using
	// Microsoft PlayReady" §2.2.5, Table 2).
	KIDs []drm.KeyID
	// Checksums holds an 8-byte checksum per KID (AESCTR only); an entry may
	// be nil when the header carries none.
	Checksums [][]byte
	ALGID     string // "AESCTR" or "AESCBC"
	LAURL     string // optional <LA_URL>
}

// NewHeader builds the header Shaka Packager writes for scheme: cenc -> 4.0
// with exactly one KID and its CHECKSUM; cbcs -> 4.3 with ALGID AESCBC and no
// checksum (AESCBC needs header 4.3, PlayReady Header Specification §3.5).
// keys[i] is the content key of kids[i]; keys are only needed for cenc.
func NewHeader(scheme cenc.Scheme, kids []drm.KeyID, keys [][]byte, laURL string) (Header, error) {
	h := Header{KIDs: append([]drm.KeyID(nil), kids...), LAURL: laURL}
	if len(kids) == 0 {
		return h, fmt.Errorf("%w: no KID", ErrInvalid)
	}
	switch scheme {
	case cenc.CENC:
		if len(kids) != 1 {
			return h, fmt.Errorf("%w: header 4.0 carries exactly one KID, got %d", ErrUnsupported, len(kids))
		}
		if len(keys) != 1 {
			return h, fmt.Errorf("%w: got %d keys for 1 KID", ErrKeys, len(keys))
		}
		sum, err := Checksum(kids[0], keys[0])
		if err != nil {
			return h, err
		}
		h.Version, h.ALGID, h.Checksums = Version40, AlgAESCTR, [][]byte{sum}
	case cenc.CBCS:
		h.Version, h.ALGID = Version43, AlgAESCBC
	default:
		return h, fmt.Errorf("%w: protection scheme %v", ErrUnsupported, scheme)
	}
	return h, nil
}

// Checksum is the AESCTR key checksum: AES-128-ECB of the KID in GUID
// (little-endian) layout under the content key, first 8 bytes (PlayReady
// Header Specification §5, "Key Checksum Algorithm").
func Checksum(kid drm.KeyID, key []byte) ([]byte, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: key of %d bytes", ErrKeys, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeys, err)
	}
	le := GUID(kid)
	out := make([]byte, 16)
	block.Encrypt(out, le[:])
	return out[:8], nil
}

// GUID returns kid in the little-endian GUID byte layout: bytes 0–3, 4–5 and
// 6–7 reversed, 8–15 unchanged (MPEG-DASH PlayReady spec §2.2.5 Table 2). The
// function is its own inverse.
func GUID(kid drm.KeyID) [16]byte {
	g := [16]byte(kid)
	g[0], g[1], g[2], g[3] = kid[3], kid[2], kid[1], kid[0]
	g[4], g[5] = kid[5], kid[4]
	g[6], g[7] = kid[7], kid[6]
	return g
}

func kidValue(k drm.KeyID) string {
	g := GUID(k)
	return base64.StdEncoding.EncodeToString(g[:])
}

// XML returns the WRMHEADER string without whitespace, in Shaka
// Packager's layout for 4.0 and 4.3 (playready_pssh_generator.cc). 4.1
// puts one <KID> element with attributes inside PROTECTINFO; 4.2 uses
// <KIDS> like 4.3.
// Attributes are in alphabetical order and every element is closed
// explicitly (PlayReady Header Specification §3.2). It is not called
// MarshalXML because that name belongs to encoding/xml's Marshaler.
func (h Header) XML() string {
	var b strings.Builder
	b.WriteString(`<WRMHEADER xmlns="` + headerNamespace + `" version="` + h.Version + `"><DATA>`)
	laURL := ""
	if h.LAURL != "" {
		laURL = "<LA_URL>" + escape(h.LAURL) + "</LA_URL>"
	}
	switch h.Version {
	case Version40:
		b.WriteString("<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>" + h.ALGID + "</ALGID></PROTECTINFO>")
		if len(h.KIDs) > 0 {
			b.WriteString("<KID>" + kidValue(h.KIDs[0]) + "</KID>")
		}
		if sum := h.checksum(0); sum != "" {
			b.WriteString("<CHECKSUM>" + sum + "</CHECKSUM>")
		}
	case Version41:
		b.WriteString("<PROTECTINFO>")
		if len(h.KIDs) > 0 {
			b.WriteString(h.kidElement(0))
		}
		b.WriteString("</PROTECTINFO>")
	default: // 4.2, 4.3
		b.WriteString("<PROTECTINFO><KIDS>")
		for i := range h.KIDs {
			b.WriteString(h.kidElement(i))
		}
		b.WriteString("</KIDS></PROTECTINFO>")
	}
	b.WriteString(laURL + "</DATA></WRMHEADER>")
	return b.String()
}

func (h Header) checksum(i int) string {
	if i < len(h.Checksums) && len(h.Checksums[i]) > 0 {
		return base64.StdEncoding.EncodeToString(h.Checksums[i])
	}
	return ""
}

func (h Header) kidElement(i int) string {
	s := `<KID ALGID="` + h.ALGID + `"`
	if sum := h.checksum(i); sum != "" {
		s += ` CHECKSUM="` + sum + `"`
	}
	return s + ` VALUE="` + kidValue(h.KIDs[i]) + `"></KID>`
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// MarshalPRO returns the PlayReady Header Object: u32le total length, u16le
// record count (1), then one record of type 1 (u16le type, u16le length)
// holding the WRMHEADER in UTF-16LE without BOM (PlayReady Header
// Specification §2).
func (h Header) MarshalPRO() []byte {
	u := utf16.Encode([]rune(h.XML()))
	rec := make([]byte, 0, 2*len(u))
	for _, c := range u {
		rec = binary.LittleEndian.AppendUint16(rec, c)
	}
	b := make([]byte, 0, 10+len(rec))
	b = binary.LittleEndian.AppendUint32(b, uint32(10+len(rec)))
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, recordTypeRMH)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(rec)))
	return append(b, rec...)
}

// PSSH wraps the PRO of h in a version 0 pssh box with the PlayReady system
// ID (MPEG-DASH PlayReady spec §2.2.2).
func PSSH(h Header) drm.PSSH {
	return drm.PSSH{Version: 0, SystemID: drm.PlayReadySystemID, Data: h.MarshalPRO()}
}

// UnmarshalPRO parses a PlayReady Header Object and the WRMHEADER of its
// first rights management record. Header versions 4.0 to 4.3 are supported.
func UnmarshalPRO(b []byte) (Header, error) {
	if len(b) < 6 {
		return Header{}, invalid("PRO of %d bytes, need at least 6", len(b))
	}
	if n := binary.LittleEndian.Uint32(b); uint64(n) != uint64(len(b)) {
		return Header{}, invalid("PRO length field %d, but %d bytes given", n, len(b))
	}
	count := int(binary.LittleEndian.Uint16(b[4:]))
	rest := b[6:]
	for i := 0; i < count; i++ {
		if len(rest) < 4 {
			return Header{}, invalid("record %d: truncated record header", i)
		}
		typ, n := binary.LittleEndian.Uint16(rest), int(binary.LittleEndian.Uint16(rest[2:]))
		rest = rest[4:]
		if n > len(rest) {
			return Header{}, invalid("record %d: length %d exceeds the %d bytes left", i, n, len(rest))
		}
		val := rest[:n]
		rest = rest[n:]
		if typ == recordTypeRMH {
			return UnmarshalXML(val)
		}
	}
	return Header{}, invalid("no rights management header record among %d records", count)
}

// wrmHeader mirrors the WRMHEADER elements of versions 4.0–4.3.
type wrmHeader struct {
	XMLName xml.Name `xml:"WRMHEADER"`
	Version string   `xml:"version,attr"`
	Data    struct {
		ProtectInfo struct {
			KeyLen string   `xml:"KEYLEN"`
			AlgID  string   `xml:"ALGID"`
			KID    *kidElem `xml:"KID"`
			KIDs   struct {
				KID []kidElem `xml:"KID"`
			} `xml:"KIDS"`
		} `xml:"PROTECTINFO"`
		KID      string `xml:"KID"`
		Checksum string `xml:"CHECKSUM"`
		LAURL    string `xml:"LA_URL"`
	} `xml:"DATA"`
}

type kidElem struct {
	AlgID    string `xml:"ALGID,attr"`
	Checksum string `xml:"CHECKSUM,attr"`
	Value    string `xml:"VALUE,attr"`
}

// UnmarshalXML parses a WRMHEADER given as UTF-16LE bytes (the record value of
// a PRO).
func UnmarshalXML(utf16le []byte) (Header, error) {
	if len(utf16le)%2 != 0 {
		return Header{}, invalid("WRMHEADER of odd length %d is not UTF-16", len(utf16le))
	}
	u := make([]uint16, len(utf16le)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(utf16le[2*i:])
	}
	return ParseXML(string(utf16.Decode(u)))
}

// ParseXML parses a WRMHEADER XML string.
func ParseXML(s string) (Header, error) {
	var w wrmHeader
	if err := xml.Unmarshal([]byte(s), &w); err != nil {
		return Header{}, invalid("WRMHEADER XML: %v", err)
	}
	h := Header{Version: w.Version, LAURL: strings.TrimSpace(w.Data.LAURL)}
	pi := w.Data.ProtectInfo
	addKID := func(value, sum string) error {
		k, err := parseKIDValue(value)
		if err != nil {
			return err
		}
		h.KIDs = append(h.KIDs, k)
		var c []byte
		if sum = strings.TrimSpace(sum); sum != "" {
			if c, err = base64.StdEncoding.DecodeString(sum); err != nil {
				return invalid("CHECKSUM %q is not base64", sum)
			}
		}
		h.Checksums = append(h.Checksums, c)
		return nil
	}
	switch w.Version {
	case Version40:
		h.ALGID = strings.TrimSpace(pi.AlgID)
		if strings.TrimSpace(w.Data.KID) == "" {
			return h, invalid("header 4.0 without DATA/KID")
		}
		if err := addKID(w.Data.KID, w.Data.Checksum); err != nil {
			return h, err
		}
	case Version41:
		if pi.KID == nil {
			return h, invalid("header 4.1 without PROTECTINFO/KID")
		}
		h.ALGID = pi.KID.AlgID
		if err := addKID(pi.KID.Value, pi.KID.Checksum); err != nil {
			return h, err
		}
	case Version42, Version43:
		for _, k := range pi.KIDs.KID {
			if h.ALGID == "" {
				h.ALGID = k.AlgID
			}
			if err := addKID(k.Value, k.Checksum); err != nil {
				return h, err
			}
		}
	default:
		return h, fmt.Errorf("%w: %w: WRMHEADER version %q", drm.ErrInvalid, ErrUnsupported, w.Version)
	}
	if h.ALGID != "" && h.ALGID != AlgAESCTR && h.ALGID != AlgAESCBC && h.ALGID != "COCKTAIL" {
		return h, invalid("unknown ALGID %q", h.ALGID)
	}
	return h, nil
}

func parseKIDValue(v string) (drm.KeyID, error) {
	v = strings.TrimSpace(v)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 16 {
		return drm.KeyID{}, invalid("KID %q is not base64 of 16 bytes", v)
	}
	return drm.KeyID(GUID(drm.KeyID(b))), nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", drm.ErrInvalid, ErrInvalid, fmt.Sprintf(format, args...))
}
