package media

import (
	"github.com/drmpipe/drmpipe/internal/enum"
)

// Kind is the media type of a track, from the hdlr handler_type
// (ISO/IEC 14496-12 §8.4.3: "vide" or "soun").
type Kind uint8

// Track kinds.
const (
	Video Kind = iota + 1
	Audio
	// Text is a 3GPP timed text track (tx3g sample entry in an sbtl, text
	// or subt handler; 3GPP TS 26.245, ISO/IEC 14496-17).
	Text
)

var kindNames = enum.Names[Kind]{Video: "video", Audio: "audio", Text: "text"}

// String returns "video", "audio" or "text".
func (k Kind) String() string { return kindNames.String(k) }

// Codec is the coding format of a track, derived from its sample entry.
type Codec uint8

// Supported codecs.
const (
	H264 Codec = iota + 1 // ISO/IEC 14496-15 §5 (avc1, avc3)
	HEVC                  // ISO/IEC 14496-15 §8 (hvc1, hev1)
	AAC                   // ISO/IEC 14496-3 in mp4a (ISO/IEC 14496-14 §5.6)
	AC3                   // ETSI TS 102 366 Annex F (ac-3)
	EAC3                  // ETSI TS 102 366 Annex F (ec-3)
	AV1                   // AV1 Codec ISO Media File Format Binding (av01)
	VP9                   // VP Codec ISO Media File Format Binding (vp09)
	Opus                  // Encapsulation of Opus in ISO Base Media File Format (Opus)
)

// String returns the lower-case codec name: "h264", "hevc", "aac", "ac-3",
// "ec-3", "av1", "vp9" or "opus".
func (c Codec) String() string { return codecNames.String(c) }

var codecNames = enum.Names[Codec]{H264: "h264", HEVC: "hevc", AAC: "aac", AC3: "ac-3", EAC3: "ec-3", AV1: "av1", VP9: "vp9", Opus: "opus"}
