// Package manifest describes a packaged presentation in the terms both
// manifest formats need (tracks, segments, protection signaling). The
// packager fills a Presentation from what it measured while writing segments;
// manifest/dash and manifest/hls turn it into an MPD and HLS playlists.
package manifest

import (
	"slices"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/media"
)

// ContentType is the kind of media a track carries, the DASH
// AdaptationSet@contentType (ISO/IEC 23009-1 §5.3.3.2): "video", "audio" or
// "text". It is the track's media.Kind; a text track is written as WebVTT:
// CMAF wvtt segments for DASH (ISO/IEC 14496-30), segmented WebVTT files
// for HLS (RFC 8216 §3.5).
type ContentType = media.Kind

// Content types.
const (
	Video = media.Video
	Audio = media.Audio
	Text  = media.Text
)

// Presentation is one packaged asset: every track and its segments.
type Presentation struct {
	// Duration is the presentation duration in seconds (longest track).
	Duration float64
	Tracks   []Track
}

// Track is one CMAF track (one rendition).
type Track struct {
	// ID is unique within the presentation, e.g. "video_720p"; used as
	// Representation@id and in HLS group/playlist names.
	ID string
	// Dir is the track's directory relative to the manifest, with forward
	// slashes, e.g. "video_720p" or "cenc/video_720p".
	Dir  string
	Type ContentType
	// Codecs is the RFC 6381 codecs string of the clear sample entry,
	// e.g. "avc1.64001f" or "mp4a.40.2".
	Codecs string
	// Bandwidth is the peak bitrate in bits/s measured over segments;
	// AverageBandwidth the mean over the whole track.
	Bandwidth        int
	AverageBandwidth int
	Width, Height    int
	// FrameRate is "30", "25" or a ratio such as "30000/1001"; empty for audio.
	FrameRate  string
	SampleRate int
	Channels   int
	// Language is an ISO 639 code, or "" when unknown/undetermined.
	Language string
	// Label is the name players show for a text track (DASH Label, HLS
	// NAME); "" for audio and video.
	Label     string
	Timescale uint32
	// InitFile and MediaPattern name files inside Dir; MediaPattern contains
	// "$Number$", replaced by the segment number starting at StartNumber.
	InitFile     string
	MediaPattern string
	// WebVTTPattern, for text tracks, names the segmented WebVTT files
	// (RFC 8216 §3.5) that the HLS media playlist lists instead of the CMAF
	// segments, with the same $Number$ and times; HLS players read WebVTT
	// segments, not WebVTT in ISOBMFF.
	WebVTTPattern string
	StartNumber   int
	// PresentationTimeOffset in Timescale units: the presentation time of
	// Segments at the start of the Period (ISO/IEC 23009-1 §5.3.9.2). VOD
	// output leaves it 0: segment times are already post-edit presentation
	// times (the edit list is in the init segment, see packager).
	PresentationTimeOffset uint64
	Segments               []Segment
	// Protection is nil for clear tracks. Under key rotation it is the
	// first key period's (what EXT-X-SESSION-KEY lists).
	Protection *Protection
	// KeyPeriods, when set, splits the segments into key periods (key
	// rotation, DASH-IF IOP Part 6 §9.2): each period has its own init
	// segment whose tenc default_KID is the period's KID. The first period
	// starts at the first segment; nil without key rotation.
	KeyPeriods []KeyPeriod
	// SyncHLS asks for EXT-X-PROGRAM-DATE-TIME on the first segment (the
	// epoch plus its Start), so HLS players that line renditions up by
	// date (RFC 8216 §4.3.2.6) keep a rendition that starts later than the
	// others, such as audio behind an empty edit, where it belongs.
	SyncHLS bool
}

// Segment is one CMAF segment (fragment) of a track.
type Segment struct {
	// Number is the value of $Number$ for this segment.
	Number int
	// Start is the earliest presentation time in Timescale units; Duration
	// likewise. Start of segment n+1 equals Start+Duration of segment n.
	Start    uint64
	Duration uint64
	// Size in bytes of the segment file.
	Size int64
	// Clear reports that the segment is part of the clear lead.
	Clear bool
}

// KeyPeriod is one key period of a track under key rotation.
type KeyPeriod struct {
	// Index is the key period's index, the same in every track whose
	// segments it covers (the DASH Period@id).
	Index int
	// FirstSegment is the Number of the period's first segment; the
	// period runs to the next period's first segment.
	FirstSegment int
	// InitFile names the period's init segment inside the track's Dir.
	InitFile string
	// Protection is the period's key and DRM signaling.
	Protection *Protection
	// Start, when set, is the presentation time (Timescale units) of the
	// period's first segment in the track, also after that segment has
	// left a live window: a live MPD keeps mapping the period's segments
	// as when it was first published (see manifest/dash). Nil means the
	// first segment listed.
	Start *uint64
}

// KeyPeriod returns t's key period k; ok is false when t has none.
func (t Track) KeyPeriod(k int) (p KeyPeriod, ok bool) {
	for _, p := range t.KeyPeriods {
		if p.Index == k {
			return p, true
		}
	}
	return KeyPeriod{}, false
}

// InKeyPeriod returns t restricted to its key period k: the period's
// segments, init segment and protection, with no KeyPeriods. ok is false
// when t has no key period k.
func (t Track) InKeyPeriod(k int) (v Track, ok bool) {
	i := -1
	for j, p := range t.KeyPeriods {
		if p.Index == k {
			i = j
		}
	}
	if i < 0 {
		return Track{}, false
	}
	p := t.KeyPeriods[i]
	first := p.FirstSegment - t.StartNumber
	end := len(t.Segments)
	if i+1 < len(t.KeyPeriods) {
		end = t.KeyPeriods[i+1].FirstSegment - t.StartNumber
	}
	if first < 0 || end > len(t.Segments) || first >= end {
		return Track{}, false
	}
	v = t
	v.Segments = t.Segments[first:end]
	v.StartNumber = p.FirstSegment
	v.InitFile = p.InitFile
	v.Protection = p.Protection
	v.KeyPeriods = nil
	return v, true
}

// KeyPeriodIndexes returns the key period indexes of p's tracks in
// increasing order; nil without key rotation.
func (p Presentation) KeyPeriodIndexes() []int {
	seen := map[int]bool{}
	var out []int
	for _, t := range p.Tracks {
		for _, kp := range t.KeyPeriods {
			if !seen[kp.Index] {
				seen[kp.Index] = true
				out = append(out, kp.Index)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Protection is the encryption and DRM signaling of a track.
type Protection struct {
	Scheme cenc.Scheme
	// KID is the tenc default_KID of the track.
	KID drm.KeyID
	// ConstantIV is the 16-byte cbcs constant IV; nil for cenc.
	ConstantIV []byte
	// Systems lists the signaling of each DRM system, in drm.AllSystems order.
	Systems []SystemSignaling
	// InBand says the KIDs are signaled in the media segments (key rotation
	// with DASH-IF IOP Part 6 §9.3: seig sample groups and moof pssh boxes).
	// The MPD then carries the descriptors without cenc:default_KID, pssh or
	// PlayReady Object ("the MPD has no default_KID attribute … and it has
	// no child elements such as PSSH elements"); a player that found them
	// there would ignore the in-band pssh boxes. HLS is not affected.
	InBand bool
}

// SystemSignaling is what one DRM system needs in the manifests: the
// signaling package's per-system data, built by signaling.Build.
type SystemSignaling = signaling.System

// Signaling returns the DRM signaling set of p, which manifest/dash and
// manifest/hls render.
func (p *Protection) Signaling() signaling.Set {
	return signaling.Set{Scheme: p.Scheme, KID: p.KID, Systems: p.Systems}
}
