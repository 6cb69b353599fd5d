package dash

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/drmpipe/drmpipe/internal/manifest"
)

// randomSegments makes a segment list with runs of equal durations and
// occasional gaps, driven by r.
func randomSegments(r *rand.Rand) []manifest.Segment {
	n := 1 + r.IntN(60)
	segs := make([]manifest.Segment, n)
	t := r.Uint64N(1 << 40)
	d := 1 + r.Uint64N(200000)
	for i := range segs {
		if r.IntN(4) == 0 {
			d = 1 + r.Uint64N(200000) // new run
		}
		if r.IntN(10) == 0 {
			t += 1 + r.Uint64N(5000) // gap
		}
		segs[i] = manifest.Segment{Number: i + 1, Start: t, Duration: d}
		t += d
	}
	return segs
}

// TestSegmentTimelineProperty: expanding the run-length encoded timeline gives
// back every segment start and duration, @t appears exactly on the first S
// and after gaps, and no two adjacent S could have been merged.
func TestSegmentTimelineProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		segs := randomSegments(r)
		tl, err := segmentTimeline(segs)
		if err != nil {
			t.Fatal(err)
		}
		starts, durs, err := expandTimeline(tl)
		if err != nil {
			t.Fatal(err)
		}
		if len(starts) != len(segs) {
			t.Fatalf("iter %d: %d segments expanded, want %d", iter, len(starts), len(segs))
		}
		gaps := 0
		for i, s := range segs {
			if starts[i] != s.Start || durs[i] != s.Duration {
				t.Fatalf("iter %d seg %d: %d+%d, want %d+%d", iter, i, starts[i], durs[i], s.Start, s.Duration)
			}
			if i > 0 && s.Start != segs[i-1].Start+segs[i-1].Duration {
				gaps++
			}
		}
		withT := 0
		for i, s := range tl.S {
			if s.T != nil {
				withT++
			}
			if i > 0 && s.T == nil && s.D == tl.S[i-1].D {
				t.Fatalf("iter %d: S %d could be merged into the previous run", iter, i)
			}
		}
		if withT != gaps+1 {
			t.Fatalf("iter %d: %d S with @t, want %d (first + %d gaps)", iter, withT, gaps+1, gaps)
		}
	}
}

func TestSegmentTimelineErrors(t *testing.T) {
	cases := map[string][]manifest.Segment{
		"empty":         nil,
		"zero duration": {{Start: 0, Duration: 0}},
		"overlap":       {{Start: 0, Duration: 10}, {Start: 5, Duration: 10}},
		"overflow":      {{Start: ^uint64(0) - 1, Duration: 10}},
	}
	for name, segs := range cases {
		if _, err := segmentTimeline(segs); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzSegmentTimeline(f *testing.F) {
	f.Add(uint64(0), uint64(180000), uint64(180000), uint64(0), uint64(45000))
	f.Add(uint64(9000), uint64(96256), uint64(95232), uint64(1), uint64(23552))
	f.Fuzz(func(t *testing.T, start, d1, d2, gap, d3 uint64) {
		segs := []manifest.Segment{{Start: start, Duration: d1}}
		segs = append(segs, manifest.Segment{Start: start + d1, Duration: d2})
		segs = append(segs, manifest.Segment{Start: start + d1 + d2 + gap, Duration: d3})
		tl, err := segmentTimeline(segs)
		if err != nil {
			return // zero durations and overflows are rejected, never panic
		}
		starts, durs, err := expandTimeline(tl)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range segs {
			if starts[i] != s.Start || durs[i] != s.Duration {
				t.Fatalf("seg %d: %d+%d, want %d+%d", i, starts[i], durs[i], s.Start, s.Duration)
			}
		}
	})
}
