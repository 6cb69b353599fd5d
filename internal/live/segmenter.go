package live

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/drmpipe/drmpipe/internal/media"
)

// cutSegment is one closed segment of a track: its samples with their
// bytes, and its place on the post-edit presentation timeline.
type cutSegment struct {
	samples []ingestSample
	// start is the earliest presentation time (composition time minus
	// the init segment's edit, as the file packager counts it) and dur the
	// time until the next segment's start, in the track timescale.
	start, dur uint64
}

// segmenter cuts one track's samples into segments as they arrive: a
// segment ends before the first sample (a sync sample for video, CMAF
// §7.3.3) at or after the next multiple of the segment duration, the rule
// the file packager follows, so every track of a channel is cut at the
// same media times.
type segmenter struct {
	video    bool
	zero     int64 // composition time presented at 0 (the init's edit)
	segTicks int64

	pending []ingestSample
	start   int64 // presentation start of pending
}

func newSegmenter(t *media.Track, segment time.Duration) *segmenter {
	return &segmenter{video: t.Kind == media.Video, zero: max(t.EditMediaTime, 0), segTicks: ticks(segment, t.Timescale)}
}

// ticks converts d to ticks of timescale ts, rounding down.
func ticks(d time.Duration, ts uint32) int64 {
	hi, lo := bits.Mul64(uint64(d), uint64(ts))
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return int64(q)
}

// add appends samples and returns the segments they close.
func (s *segmenter) add(samples []ingestSample) []cutSegment {
	var out []cutSegment
	for _, x := range samples {
		p := x.DTS + int64(x.CTO) - s.zero
		if len(s.pending) == 0 {
			s.pending, s.start = append(s.pending, x), max(p, 0)
			continue
		}
		boundary := (s.start/s.segTicks + 1) * s.segTicks
		if p >= boundary && (x.Sync || !s.video) {
			out = append(out, cutSegment{samples: s.pending, start: uint64(s.start), dur: uint64(p - s.start)})
			s.pending, s.start = []ingestSample{x}, p
			continue
		}
		s.pending = append(s.pending, x)
	}
	return out
}

// checkContinuity checks that a fragment starting at decode time dts
// continues a track whose next decode time is next: not backwards, and no
// gap longer than one segment (DASH-IF Live Media Ingest §6.4: decode
// times increase; a longer gap would leave a hole the manifests cannot
// show without a new Period).
func checkContinuity(dts, next int64, started bool, segTicks int64) error {
	if !started {
		return nil
	}
	if dts < next {
		return fmt.Errorf("%w: fragment decode time %d is before the track's next decode time %d", ErrTimestamps, dts, next)
	}
	if dts-next > segTicks {
		return fmt.Errorf("%w: fragment decode time %d jumps %d ticks past the track's next decode time %d (limit: one segment, %d)", ErrTimestamps, dts, dts-next, next, segTicks)
	}
	return nil
}
