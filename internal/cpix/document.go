// Package cpix is the DASH-IF Content Protection Information Exchange (CPIX
// 2.3) document model used by SPEKE v1 and v2: content keys, DRM signaling,
// key periods, usage rules and the delivery data of encrypted key transport.
// Marshal writes explicit cpix:/pskc:/enc:/ds:/speke: prefixes (what SPEKE
// peers expect); Unmarshal parses defensively (no DTD, bounded depth and size).
// Key encryption (CPIX 2.3 §"Content Key Encryption") is in key_encryption.go.
package cpix

import (
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// XML namespaces of a CPIX document (CPIX 2.3 §5.1; SPEKE v1 extension
// namespace from the AWS SPEKE v1 documentation).
const (
	NamespaceCPIX  = "urn:dashif:org:cpix"
	NamespacePSKC  = "urn:ietf:params:xml:ns:keyprov:pskc"
	NamespaceDS    = "http://www.w3.org/2000/09/xmldsig#"
	NamespaceENC   = "http://www.w3.org/2001/04/xmlenc#"
	NamespaceSPEKE = "urn:aws:amazon:com:speke"
)

// Algorithm identifiers of the CPIX mandatory algorithm set (CPIX 2.3
// §"Mandatory Algorithms").
const (
	// AlgAES256CBC wraps content keys and names the document key's cipher.
	AlgAES256CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	// AlgRSAOAEP wraps the document key and the MAC key (RSA-OAEP, MGF1 with
	// SHA-1).
	AlgRSAOAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	// AlgHMACSHA512 authenticates every encrypted value.
	AlgHMACSHA512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
)

// CPIX versions SPEKE pins (CPIX@version): 2.3 for SPEKE v2.0, 2.4 for
// SPEKE v2.1 (AWS SPEKE "Changes from SPEKE v2.0").
const (
	Version23 = "2.3"
	Version24 = "2.4"
)

// EncryptionScheme is ContentKey@commonEncryptionScheme: the ISO/IEC 23001-7
// protection scheme a key is used with (CPIX 2.3 §5.3.3).
type EncryptionScheme string

// The four Common Encryption schemes.
const (
	SchemeCENC EncryptionScheme = "cenc"
	SchemeCBC1 EncryptionScheme = "cbc1"
	SchemeCENS EncryptionScheme = "cens"
	SchemeCBCS EncryptionScheme = "cbcs"
)

// ParseEncryptionScheme parses one of cenc, cbc1, cens, cbcs (exact case, as
// the schema's enumeration).
func ParseEncryptionScheme(s string) (EncryptionScheme, error) {
	switch e := EncryptionScheme(s); e {
	case SchemeCENC, SchemeCBC1, SchemeCENS, SchemeCBCS:
		return e, nil
	}
	return "", fmt.Errorf("%w: commonEncryptionScheme %q (want cenc, cbc1, cens or cbcs)", ErrInvalid, s)
}

// Playlist is HLSSignalingData@playlist.
type Playlist string

// Playlist values: SPEKE v2.0 / CPIX 2.3 use master and media; CPIX 2.4
// renamed master to multiVariant. Both are accepted and echoed as given.
const (
	PlaylistMedia        Playlist = "media"
	PlaylistMaster       Playlist = "master"
	PlaylistMultiVariant Playlist = "multiVariant"
)

// IsMaster reports whether p names the multivariant (master) playlist.
func (p Playlist) IsMaster() bool { return p == PlaylistMaster || p == PlaylistMultiVariant }

func parsePlaylist(s string) (Playlist, error) {
	switch p := Playlist(s); p {
	case PlaylistMedia, PlaylistMaster, PlaylistMultiVariant:
		return p, nil
	case "":
		return PlaylistMedia, nil // CPIX 2.3: media is the default
	}
	return "", fmt.Errorf("%w: HLSSignalingData@playlist %q (want media, master or multiVariant)", ErrInvalid, s)
}

// Document is a CPIX document (CPIX 2.3 §5.2, element CPIX).
type Document struct {
	ID        string // @id (SPEKE v1 content ID)
	ContentID string // @contentId (SPEKE v2 content ID)
	Name      string // @name
	Version   string // @version ("2.3" for SPEKE v2.0)

	DeliveryData      []DeliveryData        // DeliveryDataList
	ContentKeys       []ContentKey          // ContentKeyList
	DRMSystems        []DRMSystem           // DRMSystemList
	ContentKeyPeriods []ContentKeyPeriod    // ContentKeyPeriodList
	UsageRules        []ContentKeyUsageRule // ContentKeyUsageRuleList
}

// ContentKey is one content key (CPIX 2.3 §5.3.3). A request leaves both
// Value and Encrypted nil; a response sets one of them.
type ContentKey struct {
	KID                    drm.KeyID
	ExplicitIV             []byte // @explicitIV, 16 bytes when set
	CommonEncryptionScheme EncryptionScheme
	// Value is the clear key (Data/pskc:Secret/pskc:PlainValue).
	Value []byte
	// Encrypted is the key encrypted under the document key
	// (Data/pskc:Secret/pskc:EncryptedValue + pskc:ValueMAC).
	Encrypted *EncryptedValue
}

// String never prints key material.
func (k ContentKey) String() string { return "ContentKey{KID:" + k.KID.String() + "}" }

// GoString never prints key material.
func (k ContentKey) GoString() string { return k.String() }

// EncryptedValue is a pskc:EncryptedValue (xmlenc EncryptionMethod +
// CipherData/CipherValue) with its pskc:ValueMAC.
type EncryptedValue struct {
	Method      string // enc:EncryptionMethod@Algorithm
	CipherValue []byte // decoded CipherValue (for AES-256-CBC: IV ‖ ciphertext)
	MAC         []byte // decoded pskc:ValueMAC (HMAC-SHA512 of CipherValue)
}

// DRMSystem is the signaling of one DRM system for one key (CPIX 2.3
// §5.3.4). A pointer field is nil when the element is absent; a non-nil
// pointer to an empty slice is an element present but empty, which in a
// request asks the key provider to fill it. Values are the decoded base64
// contents.
type DRMSystem struct {
	KID      drm.KeyID
	SystemID drm.SystemID
	Name     string

	PSSH                  *[]byte // full pssh box
	ContentProtectionData *[]byte // XML fragment for the DASH ContentProtection element
	URIExtXKey            *[]byte // the EXT-X-KEY URI attribute value
	HLSSignalingData      []HLSSignalingData
	// SmoothStreamingProtectionHeaderData is the PlayReady Object for
	// Smooth Streaming manifests.
	SmoothStreamingProtectionHeaderData *[]byte

	// SPEKE v1 extensions (namespace urn:aws:amazon:com:speke).
	ProtectionHeader  *[]byte // speke:ProtectionHeader (PlayReady Object)
	KeyFormat         *[]byte // speke:KeyFormat
	KeyFormatVersions *[]byte // speke:KeyFormatVersions
}

// HLSSignalingData is the base64 of a whole #EXT-X-KEY (media) or
// #EXT-X-SESSION-KEY (master) line.
type HLSSignalingData struct {
	Playlist Playlist
	Value    []byte
}

// ContentKeyPeriod is a crypto period for key rotation (CPIX 2.3 §5.3.5;
// CPIX 2.4 adds @startOffset, @endOffset and @duration). The time
// attributes are kept as written, so a response echoes them unchanged;
// Interval reads them.
type ContentKeyPeriod struct {
	ID    string
	Index *uint32 // @index; SPEKE v1 and v2.0 use only this
	Label string
	Start string // @start (xs:dateTime, live: wall clock)
	End   string // @end (xs:dateTime)
	// StartOffset and EndOffset (xs:duration) are the VOD form: media time
	// from the start of the content.
	StartOffset string
	EndOffset   string
	Duration    string // @duration (xs:duration), instead of an end
}

// ContentKeyUsageRule maps a key to the tracks it encrypts (CPIX 2.3
// §5.3.6). A present but empty VideoFilter/AudioFilter matches every
// video/audio track.
type ContentKeyUsageRule struct {
	KID               drm.KeyID
	IntendedTrackType string // free-form in CPIX; SPEKE v2 defines the values
	KeyPeriodFilters  []KeyPeriodFilter
	LabelFilters      []LabelFilter
	VideoFilters      []VideoFilter
	AudioFilters      []AudioFilter
	BitrateFilters    []BitrateFilter
}

// KeyPeriodFilter restricts a rule to one ContentKeyPeriod.
type KeyPeriodFilter struct{ PeriodID string }

// LabelFilter restricts a rule to tracks with a label.
type LabelFilter struct{ Label string }

// VideoFilter restricts a rule to video tracks; nil bounds are absent.
// Pixel bounds are inclusive; fps excludes min and includes max.
type VideoFilter struct {
	MinPixels, MaxPixels *uint64
	HDR, WCG             *bool
	MinFPS, MaxFPS       *uint32
}

// AudioFilter restricts a rule to audio tracks by channel count.
type AudioFilter struct{ MinChannels, MaxChannels *uint32 }

// BitrateFilter restricts a rule by bitrate (bits per second).
type BitrateFilter struct{ MinBitrate, MaxBitrate *uint64 }

// DeliveryData names a recipient of encrypted keys and, in a response, the
// keys that protect them (CPIX 2.3 §5.3.2).
type DeliveryData struct {
	ID          string
	Description string
	// Certificate is the DER X.509 certificate of the recipient
	// (DeliveryKey/ds:X509Data/ds:X509Certificate).
	Certificate []byte
	// DocumentKey is the AES-256 key that encrypts the content keys,
	// RSA-OAEP-wrapped for the recipient; nil in a request.
	DocumentKey *DocumentKey
	// MACMethod carries the HMAC key, RSA-OAEP-wrapped; nil in a request.
	MACMethod *MACMethod
}

// DocumentKey is cpix:DocumentKey.
type DocumentKey struct {
	Algorithm string // @Algorithm: the cipher the document key is for (AES-256-CBC)
	Key       EncryptedValue
}

// MACMethod is cpix:MACMethod.
type MACMethod struct {
	Algorithm string // @Algorithm (HMAC-SHA512)
	Key       EncryptedValue
}

// Present returns a pointer to a copy of b for the optional DRMSystem
// fields; Present(nil) marks an element present but empty.
func Present(b []byte) *[]byte {
	c := append([]byte{}, b...)
	return &c
}

// ContentKeyByKID returns the index of the content key with kid, or -1.
func (d *Document) ContentKeyByKID(kid drm.KeyID) int {
	for i := range d.ContentKeys {
		if d.ContentKeys[i].KID == kid {
			return i
		}
	}
	return -1
}

// PeriodByID returns the period with the given @id.
func (d *Document) PeriodByID(id string) (ContentKeyPeriod, bool) {
	for _, p := range d.ContentKeyPeriods {
		if p.ID == id {
			return p, true
		}
	}
	return ContentKeyPeriod{}, false
}

// ReplaceKID changes a key ID everywhere it appears (ContentKey, DRMSystem
// and ContentKeyUsageRule @kid): the SPEKE "KID override" of a key provider
// that answers with its own key IDs.
func (d *Document) ReplaceKID(from, to drm.KeyID) {
	d.ReplaceKIDs(map[drm.KeyID]drm.KeyID{from: to})
}

// ReplaceKIDs changes every key ID that is a key of m to its value, all at
// once (so a KID that is both replaced and a replacement is not replaced
// twice).
func (d *Document) ReplaceKIDs(m map[drm.KeyID]drm.KeyID) {
	swap := func(k *drm.KeyID) {
		if to, ok := m[*k]; ok {
			*k = to
		}
	}
	for i := range d.ContentKeys {
		swap(&d.ContentKeys[i].KID)
	}
	for i := range d.DRMSystems {
		swap(&d.DRMSystems[i].KID)
	}
	for i := range d.UsageRules {
		swap(&d.UsageRules[i].KID)
	}
}

// Encrypted reports whether any content key is carried encrypted.
func (d *Document) Encrypted() bool {
	for _, k := range d.ContentKeys {
		if k.Encrypted != nil {
			return true
		}
	}
	return false
}

// trimBase64 drops the whitespace XML pretty-printers put into base64 text.
func trimBase64(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
