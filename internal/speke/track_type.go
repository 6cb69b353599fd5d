package speke

import (
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// trackClass groups SPEKE v2 intendedTrackType values for the preset rules.
type trackClass uint8

const (
	classShared trackClass = iota + 1 // ALL: the SHARED preset, one key for audio and video
	classVideo
	classAudio
)

// intendedVideo is the SPEKE v2 PRESET-VIDEO-1 name: one key for every video
// track. keys.TrackType has no VIDEO slot yet, so it is stored in the ALL
// slot of the content (see trackTypeOf).
const intendedVideo = "VIDEO"

// trackTypeOf maps an intendedTrackType (AWS SPEKE v2 "Content key
// encryption presets") to the store slot. Names keys.ParseTrackType knows map
// to themselves (ALL, AUDIO, SD, HD, UHD1, UHD2); VIDEO maps to ALL. The
// other preset names (UHD, HD1, HD2, SD+HD1, STEREO_AUDIO, MULTICHANNEL_*)
// have no slot in the store and are refused.
func trackTypeOf(name string) (keys.TrackType, trackClass, error) {
	if name == intendedVideo {
		return keys.All, classVideo, nil
	}
	t, err := keys.ParseTrackType(name)
	if err != nil || t.String() != name {
		return 0, 0, reject("Unsupported ContentKeyUsageRule@intendedTrackType %q (supported: ALL, VIDEO, SD, HD, UHD1, UHD2, AUDIO)", name)
	}
	switch t {
	case keys.All:
		return t, classShared, nil
	case keys.Audio:
		return t, classAudio, nil
	default:
		return t, classVideo, nil
	}
}

// SPEKE v2 VideoFilter pixel bounds of each video track type (the same
// thresholds as keys.VideoTrackType; AWS SPEKE v2 presets).
var videoPixelBounds = map[keys.TrackType][2]uint64{
	keys.SD:   {0, 589824},
	keys.HD:   {589825, 2073600},
	keys.UHD1: {2073601, 8847360},
	keys.UHD2: {8847361, 0},
}

// UsageRuleFor fills rule for keys of track type t: its intendedTrackType
// and the SPEKE v2 video/audio filters (CPIX 2.3 §5.3.6), as the SPEKE
// client sends them and the key broker's CPIX documents carry them.
func UsageRuleFor(t keys.TrackType, rule *cpix.ContentKeyUsageRule) {
	rule.IntendedTrackType = t.String()
	switch t {
	case keys.All:
		rule.VideoFilters = []cpix.VideoFilter{{}}
		rule.AudioFilters = []cpix.AudioFilter{{}}
	case keys.Audio:
		rule.AudioFilters = []cpix.AudioFilter{{}}
	default:
		var f cpix.VideoFilter
		if b, ok := videoPixelBounds[t]; ok {
			if b[0] > 0 {
				lo := b[0]
				f.MinPixels = &lo
			}
			if b[1] > 0 {
				hi := b[1]
				f.MaxPixels = &hi
			}
		}
		rule.VideoFilters = []cpix.VideoFilter{f}
	}
}

func unconstrainedVideo(f cpix.VideoFilter) bool {
	return f.MinPixels == nil && f.MaxPixels == nil && f.HDR == nil && f.WCG == nil && f.MinFPS == nil && f.MaxFPS == nil
}

func unconstrainedAudio(f cpix.AudioFilter) bool { return f.MinChannels == nil && f.MaxChannels == nil }
