package dash

import (
	"fmt"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// segmentTimeline run-length encodes segments into S elements
// (ISO/IEC 23009-1 §5.3.9.6): consecutive segments of equal duration that
// follow each other without a gap share one S with @r; @t is written on the
// first S and wherever a segment does not start where the previous one ended.
// Segments must be in presentation order and must not overlap.
func segmentTimeline(segs []manifest.Segment) (*mpd.SegmentTimelineType, error) {
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: track has no segments", ErrInvalidPresentation)
	}
	tl := &mpd.SegmentTimelineType{}
	var cur *mpd.S
	var end uint64 // end time of the previous segment
	for i, s := range segs {
		if s.Duration == 0 {
			return nil, fmt.Errorf("%w: segment %d has zero duration", ErrInvalidPresentation, s.Number)
		}
		if s.Start+s.Duration < s.Start {
			return nil, fmt.Errorf("%w: segment %d end time overflows", ErrInvalidPresentation, s.Number)
		}
		if i > 0 && s.Start < end {
			return nil, fmt.Errorf("%w: segment %d starts at %d before the previous segment ends at %d",
				ErrInvalidPresentation, s.Number, s.Start, end)
		}
		switch {
		case cur != nil && s.Start == end && s.Duration == cur.D:
			cur.R++
		case cur != nil && s.Start == end:
			cur = &mpd.S{D: s.Duration}
			tl.S = append(tl.S, cur)
		default: // first segment, or a gap before this one
			cur = &mpd.S{T: mpd.Ptr(s.Start), D: s.Duration}
			tl.S = append(tl.S, cur)
		}
		end = s.Start + s.Duration
	}
	return tl, nil
}

// expandTimeline is the inverse of segmentTimeline: the start and duration of
// every segment the S elements describe (ISO/IEC 23009-1 §5.3.9.6.3). Only
// non-negative @r values are supported (a static MPD has no open-ended runs).
func expandTimeline(tl *mpd.SegmentTimelineType) (starts, durs []uint64, err error) {
	var t uint64
	for i, s := range tl.S {
		if s.T != nil {
			t = *s.T
		} else if i == 0 {
			return nil, nil, fmt.Errorf("%w: first S has no @t", ErrInvalidPresentation)
		}
		if s.R < 0 {
			return nil, nil, fmt.Errorf("%w: negative @r in a static timeline", ErrInvalidPresentation)
		}
		for r := 0; r <= s.R; r++ {
			starts = append(starts, t)
			durs = append(durs, s.D)
			t += s.D
		}
	}
	return starts, durs, nil
}
