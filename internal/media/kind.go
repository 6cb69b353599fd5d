package media

import "fmt"

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

// String returns "video", "audio" or "text".
func (k Kind) String() string {
	switch k {
	case Video:
		return "video"
	case Audio:
		return "audio"
	case Text:
		return "text"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

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
func (c Codec) String() string {
	switch c {
	case H264:
		return "h264"
	case HEVC:
		return "hevc"
	case AAC:
		return "aac"
	case AC3:
		return "ac-3"
	case EAC3:
		return "ec-3"
	case AV1:
		return "av1"
	case VP9:
		return "vp9"
	case Opus:
		return "opus"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}
