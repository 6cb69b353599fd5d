package packager

import (
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/media"
)

// synthetic builds a track of n samples of dur ticks with a sync sample
// every gop samples.
func synthetic(kind media.Kind, ts uint32, n int, dur uint32, gop int, cto int32) *media.Track {
	t := &media.Track{Kind: kind, Timescale: ts}
	for i := 0; i < n; i++ {
		t.Samples = append(t.Samples, media.Sample{DTS: int64(i) * int64(dur), Duration: dur, CTO: cto, Sync: i%gop == 0})
	}
	if cto > 0 {
		t.EditMediaTime = int64(cto)
	}
	return t
}

func TestPlanSegments(t *testing.T) {
	cases := []struct {
		name      string
		gop       int // frames at 30 fps
		target    time.Duration
		wantSegs  int
		wantWarns int
	}{
		{"aligned 2s GOP", 60, 2 * time.Second, 5, 0},
		{"1s GOP, 2s segments", 30, 2 * time.Second, 5, 0},
		{"3s GOP longer than 2s", 90, 2 * time.Second, 4, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := synthetic(media.Video, 15360, 300, 512, tc.gop, 1024) // 10 s
			a := synthetic(media.Audio, 48000, 469, 1024, 1, 0)        // ~10 s
			names := map[*media.Track]string{v: "video", a: "audio"}
			p, err := planSegments([]*media.Track{v, a}, names, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			vs, as := p.spans[v], p.spans[a]
			if len(vs) != tc.wantSegs {
				t.Errorf("video segments %d, want %d", len(vs), tc.wantSegs)
			}
			if len(as) != len(vs) {
				t.Errorf("audio has %d segments, video %d: audio must follow video cuts", len(as), len(vs))
			}
			if len(p.warnings) != tc.wantWarns {
				t.Errorf("warnings %q", p.warnings)
			}
			// Contiguity: every sample in exactly one span, durations chain.
			next := 0
			for k, s := range vs {
				if s.first != next || !v.Samples[s.first].Sync {
					t.Fatalf("span %d starts at %d (sync %v), want %d", k, s.first, v.Samples[s.first].Sync, next)
				}
				next = s.end
				if k+1 < len(vs) && s.start+s.dur != vs[k+1].start {
					t.Errorf("span %d: start+dur != next start", k)
				}
			}
			if next != len(v.Samples) {
				t.Errorf("spans cover %d of %d samples", next, len(v.Samples))
			}
			var total uint64
			for _, s := range vs {
				total += s.dur
			}
			if total != 300*512 {
				t.Errorf("total video duration %d, want %d", total, 300*512)
			}
		})
	}
}

func TestClearSegments(t *testing.T) {
	v := synthetic(media.Video, 15360, 300, 512, 60, 0)
	sp := spans(v, []int{0, 60, 120, 180, 240})
	for _, tc := range []struct {
		lead time.Duration
		want int
	}{{0, 0}, {time.Second, 1}, {2 * time.Second, 1}, {3 * time.Second, 2}, {4 * time.Second, 2}, {time.Hour, 5}} {
		if got := clearSegments(v, sp, tc.lead); got != tc.want {
			t.Errorf("lead %s: %d clear segments, want %d", tc.lead, got, tc.want)
		}
	}
}
