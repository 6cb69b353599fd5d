package media

import "github.com/Eyevinn/mp4ff/mp4"

// Sample is one media sample: where its bytes are and its timing, in the
// track timescale.
type Sample struct {
	Offset   int64  // absolute file offset of the sample bytes
	Size     uint32 // sample size in bytes
	DTS      int64  // decode time (starts at the first sample's decode time in the input; 0 for progressive)
	Duration uint32 // sample duration
	CTO      int32  // composition offset: PTS = DTS + CTO (can be negative)
	Sync     bool   // sync sample (IDR/IRAP for video; every audio sample is sync)
}

// Track is one video or audio track of an input file with its full sample
// table in decode order.
type Track struct {
	File      string // input path, for error messages
	ID        uint32 // track_ID in the input
	Kind      Kind
	Codec     Codec
	Timescale uint32 // mdhd timescale
	// SampleEntry is the clear sample entry box from stsd
	// (avc1/avc3/hvc1/hev1/av01/vp09/mp4a/ac-3/ec-3/Opus), decoded with mp4ff, ready to be
	// placed into a new init segment.
	SampleEntry mp4.Box
	FourCC      string // sample entry type, e.g. "avc1"
	// CodecString is the RFC 6381 codecs parameter, e.g. "avc1.64001f",
	// "hvc1.1.6.L93.B0", "av01.0.04M.08", "vp09.00.10.08.01.01.01.01.00",
	// "mp4a.40.2", "ac-3", "ec-3", "opus".
	CodecString   string
	Width, Height int // video: sample entry width/height
	SampleRate    int // audio
	Channels      int // audio
	Language      string
	// EditMediaTime is the media_time of the first non-empty edit in elst
	// (-1 if none), EditDuration its segment_duration in the movie
	// timescale, MovieTimescale the mvhd timescale (ISO/IEC 14496-12 §8.6.6).
	// EditDelay is the summed duration of the empty edits before it,
	// converted to the track timescale: the media starts that late on the
	// movie's presentation timeline (an audio track that starts after the
	// video, say).
	EditMediaTime  int64
	EditDuration   uint64
	EditDelay      int64
	MovieTimescale uint32
	NALLengthSize  int      // 1, 2 or 4 for H.264/HEVC from avcC/hvcC; 0 otherwise
	ParamSets      [][]byte // SPS/PPS (and VPS) NAL units from avcC/hvcC without length prefix
	// ConfigOBUs is the configOBUs field of av1C (AV1: the sequence header
	// OBU, low-overhead format); empty for other codecs.
	ConfigOBUs []byte
	Samples    []Sample // in decode order
}

// Duration returns the track duration in seconds: the sum of the sample
// durations divided by the timescale.
func (t *Track) Duration() float64 {
	if t.Timescale == 0 {
		return 0
	}
	var sum uint64
	for i := range t.Samples {
		sum += uint64(t.Samples[i].Duration)
	}
	return float64(sum) / float64(t.Timescale)
}
