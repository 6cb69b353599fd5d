// Package keys is the content-key domain: track types, content keys and the
// interfaces key stores and key sources implement.
package keys

import "github.com/drmpipe/drmpipe/internal/enum"

// TrackType is the class of track a content key is intended for, as in
// SPEKE v2 ContentKeyUsageRule@intendedTrackType.
type TrackType uint8

// Track types. ALL means one key for every track of the asset.
const (
	All TrackType = iota + 1
	Audio
	SD
	HD
	UHD1
	UHD2
)

var trackTypeNames = enum.Names[TrackType]{All: "ALL", Audio: "AUDIO", SD: "SD", HD: "HD", UHD1: "UHD1", UHD2: "UHD2"}

// String returns the SPEKE v2 name (AUDIO, SD, HD, UHD1, UHD2) or ALL.
func (t TrackType) String() string { return trackTypeNames.String(t) }

// ParseTrackType parses a SPEKE v2 track type name, case-insensitively.
func ParseTrackType(s string) (TrackType, error) {
	return trackTypeNames.Parse(s, ErrUnknownTrackType, "")
}

// SPEKE v2 VideoFilter pixel thresholds (AWS SPEKE v2 "Content key encryption
// presets": SD <= 589,824 px; HD <= 2,073,600; UHD1 <= 8,847,360; UHD2 above).
const (
	maxSDPixels   = 589824
	maxHDPixels   = 2073600
	maxUHD1Pixels = 8847360
)

// VideoTrackType classifies a video track by its pixel count.
func VideoTrackType(width, height int) TrackType {
	px := width * height
	switch {
	case px <= maxSDPixels:
		return SD
	case px <= maxHDPixels:
		return HD
	case px <= maxUHD1Pixels:
		return UHD1
	}
	return UHD2
}
