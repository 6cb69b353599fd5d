package packager

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/drmpipe/drmpipe/internal/media"
)

// span is one segment of a track: samples [first, end) in decode order.
type span struct {
	first, end int
	// start is the earliest presentation time of the segment's samples on
	// the output timeline (see presentationZero) and dur the time until the
	// next segment's start, in track timescale.
	start uint64
	dur   uint64
}

func pts(s media.Sample) int64 { return s.DTS + int64(s.CTO) }

// presentationZero is the composition time that output presentation time
// zero corresponds to. drmpipe's one timing model (ISO/IEC 14496-12 §8.6.6,
// CMAF ISO/IEC 23000-19 §7.5.13, W3C MSE ISO BMFF byte stream format §3):
//
//   - the init segment carries the input's offset edit (media_time M), so
//     composition time M is presented at 0; every MSE implementation and
//     decryptor applies that edit itself;
//   - the input's empty edits (a delay E) are moved into the decode times:
//     tfdt = input decode time + E, so the track starts E late without
//     relying on empty edits in fragmented files;
//   - the MPD's SegmentTimeline is in that post-edit presentation time
//     (composition time - M + E) and carries no presentationTimeOffset,
//     so a player that applies presentationTimeOffset does not shift the
//     samples a second time.
func presentationZero(t *media.Track) int64 {
	return max(t.EditMediaTime, 0) - t.EditDelay
}

// outputDTS is the tfdt of sample s in the output: its decode time shifted
// by the track's empty edits (see presentationZero).
func outputDTS(t *media.Track, s media.Sample) uint64 {
	return uint64(s.DTS + t.EditDelay)
}

// toTicks converts d to ticks of timescale ts, rounding down.
func toTicks(d time.Duration, ts uint32) int64 {
	hi, lo := bits.Mul64(uint64(d), uint64(ts))
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return int64(q)
}

// cutVideo cuts a video track at the first sync sample at or after each
// multiple of target (presentation time), CMAF §7.3.3: every segment starts
// with a sync sample. It returns the cut times as durations from
// presentation zero so that audio can follow them.
func cutVideo(t *media.Track, target time.Duration) (cuts []int, times []time.Duration) {
	targetTicks := toTicks(target, t.Timescale)
	zero := presentationZero(t)
	next := targetTicks
	cuts = []int{0}
	for i := 1; i < len(t.Samples); i++ {
		s := t.Samples[i]
		if !s.Sync {
			continue
		}
		p := pts(s) - zero
		if p < next {
			continue
		}
		cuts = append(cuts, i)
		times = append(times, ticksToDuration(p, t.Timescale))
		for next <= p {
			next += targetTicks
		}
	}
	return cuts, times
}

func ticksToDuration(ticks int64, ts uint32) time.Duration {
	neg := ticks < 0
	if neg {
		ticks = -ticks
	}
	hi, lo := bits.Mul64(uint64(ticks), uint64(time.Second))
	q, _ := bits.Div64(hi%uint64(ts), lo, uint64(ts))
	if hi >= uint64(ts) { // overflow: absurdly long track
		q = uint64(1<<63 - 1)
	}
	if neg {
		return -time.Duration(q)
	}
	return time.Duration(q)
}

// cutAt cuts a track (audio, or video following a reference) at the first
// sample whose presentation time reaches each of times.
func cutAt(t *media.Track, times []time.Duration) []int {
	zero := presentationZero(t)
	cuts := []int{0}
	j := 0
	for i := 1; i < len(t.Samples) && j < len(times); i++ {
		p := pts(t.Samples[i]) - zero
		if p >= toTicks(times[j], t.Timescale) && t.Samples[i].Sync {
			cuts = append(cuts, i)
			for j < len(times) && p >= toTicks(times[j], t.Timescale) {
				j++
			}
		}
	}
	return cuts
}

// cutEvery cuts a track with no reference (audio-only) every target.
func cutEvery(t *media.Track, target time.Duration) []int {
	var times []time.Duration
	total := ticksToDuration(int64(totalDuration(t)), t.Timescale)
	for d := target; d < total; d += target {
		times = append(times, d)
	}
	return cutAt(t, times)
}

func totalDuration(t *media.Track) uint64 {
	var d uint64
	for _, s := range t.Samples {
		d += uint64(s.Duration)
	}
	return d
}

// spans turns cut indexes into spans with presentation start and duration.
func spans(t *media.Track, cuts []int) []span {
	zero := presentationZero(t)
	out := make([]span, 0, len(cuts))
	for k, first := range cuts {
		end := len(t.Samples)
		if k+1 < len(cuts) {
			end = cuts[k+1]
		}
		minPTS := pts(t.Samples[first])
		for _, s := range t.Samples[first:end] {
			if p := pts(s); p < minPTS {
				minPTS = p
			}
		}
		// Samples before presentation zero (B-frame reordering, AAC
		// priming, a trimmed start) are cut by the edit; the first
		// segment's timeline entry starts at 0.
		out = append(out, span{first: first, end: end, start: uint64(max(minPTS-zero, 0))})
	}
	for k := range out {
		if k+1 < len(out) {
			out[k].dur = out[k+1].start - out[k].start
			continue
		}
		var endPTS int64
		for _, s := range t.Samples[out[k].first:out[k].end] {
			endPTS = max(endPTS, pts(s)+int64(s.Duration)-zero)
		}
		out[k].dur = uint64(max(endPTS, int64(out[k].start))) - out[k].start
	}
	return out
}

// plan is the segmentation of every track of a job.
type plan struct {
	spans map[*media.Track][]span
	// ref is the track the others follow: the first video track, else
	// the first track.
	ref      *media.Track
	warnings []string
}

// planSegments cuts every track. The first video track is the reference:
// other video tracks and audio follow its cut times when their own sync
// samples allow; misalignments and long GOPs are reported as warnings.
func planSegments(tracks []*media.Track, names map[*media.Track]string, target time.Duration) (*plan, error) {
	p := &plan{spans: map[*media.Track][]span{}}
	var refTimes []time.Duration
	var ref *media.Track
	for _, t := range tracks {
		if t.Kind != media.Video {
			continue
		}
		cuts, times := cutVideo(t, target)
		if ref == nil {
			ref, refTimes = t, times
		} else if !sameCuts(times, refTimes, t.Timescale) {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: sync samples do not line up with %s; segment boundaries differ between renditions (ABR switches may not be seamless)", names[t], names[ref]))
		}
		sp := spans(t, cuts)
		var long int
		var longest uint64
		for _, s := range sp {
			if ticksToDuration(int64(s.dur), t.Timescale) > target+target/10 {
				long++
				longest = max(longest, s.dur)
			}
		}
		if long > 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: %d segment(s) longer than %s because sync samples are further apart (longest %.3fs); encode with a GOP that divides the segment duration", names[t], long, target, float64(longest)/float64(t.Timescale)))
		}
		if w := editIntoGOP(t); w > 0 {
			p.warnings = append(p.warnings, fmt.Sprintf("%s: the edit list starts presentation %.3fs before the next sync sample; players that use Media Source Extensions show video from that sync sample (trim the input on a keyframe to avoid it)", names[t], float64(w)/float64(t.Timescale)))
		}
		p.spans[t] = sp
	}
	for _, t := range tracks {
		if t.Kind == media.Video {
			continue
		}
		var cuts []int
		if ref != nil {
			cuts = cutAt(t, refTimes)
		} else {
			cuts = cutEvery(t, target)
		}
		p.spans[t] = spans(t, cuts)
	}
	p.ref = ref
	if ref == nil && len(tracks) > 0 {
		p.ref = tracks[0]
	}
	return p, nil
}

// end is the end of the presentation: where the last segment of any track
// ends, from presentation zero.
func (p *plan) end() time.Duration {
	var end time.Duration
	for t, sp := range p.spans {
		if n := len(sp); n > 0 {
			end = max(end, ticksToDuration(int64(sp[n-1].start+sp[n-1].dur), t.Timescale))
		}
	}
	return end
}

// editIntoGOP returns how long after presentation zero the first sync
// sample is presented when frames before it are presented too: an edit list
// that starts inside a GOP (an input trimmed with a stream copy). MSE drops
// the frames before appendWindowStart and then waits for a random access
// point (W3C Media Source Extensions, coded frame processing), so such
// frames are lost in browsers. It returns 0 when presentation starts on a
// sync sample.
func editIntoGOP(t *media.Track) int64 {
	zero := presentationZero(t)
	firstSync, firstAny := int64(-1), int64(-1)
	for _, s := range t.Samples {
		p := pts(s) - zero
		if p < 0 {
			continue
		}
		if firstAny < 0 || p < firstAny {
			firstAny = p
		}
		if s.Sync && (firstSync < 0 || p < firstSync) {
			firstSync = p
		}
	}
	if firstSync <= firstAny {
		return 0
	}
	return firstSync - firstAny
}

// sameCuts compares cut times over the duration both tracks cover.
func sameCuts(a, b []time.Duration, ts uint32) bool {
	tol := time.Second / time.Duration(ts) * 2
	for i := range min(len(a), len(b)) {
		d := a[i] - b[i]
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}
