// Package drm holds the identifiers shared by every DRM system: system IDs,
// key IDs and the list of systems a packaging job signals. The data formats of
// each system live in drm/widevine, drm/playready, drm/fairplay and drm/clearkey.
package drm

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/enum"
)

// SystemID is a 16-byte DRM system identifier as carried in pssh boxes and in
// DASH ContentProtection@schemeIdUri (urn:uuid:...). ISO/IEC 23001-7 §8.1.
type SystemID [16]byte

// Registered system IDs (DASH-IF system ID registry).
var (
	WidevineSystemID  = mustUUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
	PlayReadySystemID = mustUUID("9a04f079-9840-4286-ab92-e65be0885f95")
	FairPlaySystemID  = mustUUID("94ce86fb-07ff-4f43-adb8-93d2fa968ca2")
	ClearKeySystemID  = mustUUID("e2719d58-a985-b3c9-781a-b030af78d30e")
	// CommonSystemID is the W3C "common" PSSH system (EME cenc init data format).
	CommonSystemID = mustUUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")
)

// URNPrefix starts the URN form of a UUID (RFC 9562 §4), as system IDs are
// written in DASH schemeIdUri and HLS KEYFORMAT.
const URNPrefix = "urn:uuid:"

// String returns the lowercase 8-4-4-4-12 UUID form.
func (s SystemID) String() string { return uuidString(s) }

// URN returns "urn:uuid:<uuid>" as used in DASH schemeIdUri and HLS KEYFORMAT.
func (s SystemID) URN() string { return URNPrefix + s.String() }

// KeyID is a content key identifier in big-endian UUID byte order, the order
// used by tenc, pssh, cenc:default_KID and CPIX (never the PlayReady GUID order).
type KeyID [16]byte

// String returns the lowercase 8-4-4-4-12 UUID form.
func (k KeyID) String() string { return uuidString(k) }

// Hex returns the 32 lowercase hex digits.
func (k KeyID) Hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether all bytes are zero.
func (k KeyID) IsZero() bool { return k == KeyID{} }

// ParseKeyID accepts 32 hex digits or the 8-4-4-4-12 UUID form.
func ParseKeyID(s string) (KeyID, error) {
	var k KeyID
	b, err := parseUUIDBytes(s)
	if err != nil {
		return k, fmt.Errorf("%w: key ID %q: %w", ErrInvalid, s, err)
	}
	copy(k[:], b)
	return k, nil
}

// ParseSystemID accepts 32 hex digits, the UUID form, or "urn:uuid:<uuid>".
func ParseSystemID(s string) (SystemID, error) {
	var id SystemID
	b, err := parseUUIDBytes(strings.TrimPrefix(strings.ToLower(s), URNPrefix))
	if err != nil {
		return id, fmt.Errorf("%w: system ID %q: %w", ErrInvalid, s, err)
	}
	copy(id[:], b)
	return id, nil
}

func parseUUIDBytes(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(h) != 32 {
		return nil, fmt.Errorf("want 16 bytes (32 hex digits), got %d hex digits", len(h))
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("not hex")
	}
	return b, nil
}

func uuidString(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func mustUUID(s string) [16]byte {
	b, err := parseUUIDBytes(s)
	if err != nil {
		panic(err)
	}
	var out [16]byte
	copy(out[:], b)
	return out
}

// System is one DRM system a packaging job can signal.
type System uint8

// The DRM systems drmpipe signals.
const (
	Widevine System = iota + 1
	PlayReady
	FairPlay
	ClearKey
)

// AllSystems lists every system in a stable order (the order signaling is written).
var AllSystems = []System{Widevine, PlayReady, FairPlay, ClearKey}

var systemNames = enum.Names[System]{Widevine: "widevine", PlayReady: "playready", FairPlay: "fairplay", ClearKey: "clearkey"}

func (s System) String() string { return systemNames.String(s) }

// SystemID returns the registered system ID of s.
func (s System) SystemID() SystemID {
	switch s {
	case Widevine:
		return WidevineSystemID
	case PlayReady:
		return PlayReadySystemID
	case FairPlay:
		return FairPlaySystemID
	case ClearKey:
		return ClearKeySystemID
	}
	return SystemID{}
}

// ParseSystem parses one lowercase system name.
func ParseSystem(s string) (System, error) {
	return systemNames.Parse(s, ErrInvalid, "unknown DRM system")
}

// ParseSystems parses a comma-separated list such as "widevine,playready",
// returning the systems in AllSystems order without duplicates.
func ParseSystems(list string) ([]System, error) {
	out, err := systemNames.ParseList(list, ErrInvalid, "unknown DRM system")
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%w: empty DRM system list", ErrInvalid)
	}
	return out, err
}
