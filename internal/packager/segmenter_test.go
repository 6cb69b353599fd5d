package packager

import (
	"slices"
	"strings"
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
	v := synthetic(media.Video, 15360, 300, 512, 60, 0) // 10 s in 2 s GOPs
	a := synthetic(media.Audio, 48000, 469, 1024, 1, 0)
	names := map[*media.Track]string{v: "video", a: "audio"}
	p, err := planSegments([]*media.Track{v, a}, names, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lead time.Duration
		want int
	}{{0, 0}, {time.Second, 1}, {2 * time.Second, 1}, {3 * time.Second, 2}, {4 * time.Second, 2}, {time.Hour, 5}} {
		end := p.clearLeadEnd(tc.lead)
		if got := clearSegments(v, p.spans[v], end); got != tc.want {
			t.Errorf("lead %s: %d clear video segments, want %d", tc.lead, got, tc.want)
		}
		// Audio segments run a few AAC frames past the video cuts; the
		// clear lead still ends at the same cut.
		if got := clearSegments(a, p.spans[a], end); got != tc.want {
			t.Errorf("lead %s: %d clear audio segments, want %d", tc.lead, got, tc.want)
		}
	}
}

// TestClearLeadAligned: audio that starts late (an empty edit) has a short
// first segment; its clear lead must still end where the video's does, so
// every HLS playlist switches to encrypted segments at the same media time.
func TestClearLeadAligned(t *testing.T) {
	v := synthetic(media.Video, 15360, 300, 512, 60, 0)
	a := synthetic(media.Audio, 48000, 469, 1024, 1, 0)
	a.EditDelay = 24000 // 0.5 s
	names := map[*media.Track]string{v: "video", a: "audio"}
	p, err := planSegments([]*media.Track{v, a}, names, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	end := p.clearLeadEnd(4 * time.Second)
	if end != 4*time.Second {
		t.Fatalf("clear lead ends at %s, want 4s", end)
	}
	nv, na := clearSegments(v, p.spans[v], end), clearSegments(a, p.spans[a], end)
	if nv != 2 || na != 2 {
		t.Fatalf("clear segments: video %d, audio %d; want 2 each", nv, na)
	}
	first := p.spans[a][na]
	if at := ticksToDuration(int64(first.start), a.Timescale); at < 4*time.Second || at > 4*time.Second+25*time.Millisecond {
		t.Errorf("first encrypted audio segment starts at %s, want the video's 4s (within an AAC frame)", at)
	}
}

// TestTimeline pins drmpipe's one timing model (see presentationZero): the
// offset edit stays in the init segment, empty edits move into the decode
// times, and segment starts are post-edit presentation times from 0.
func TestTimeline(t *testing.T) {
	const ts = 12800 // 25 fps video: 512 ticks a frame
	t.Run("B-frame delay", func(t *testing.T) {
		v := synthetic(media.Video, ts, 150, 512, 50, 1024) // elst media_time 1024
		sp := spans(v, []int{0, 50, 100})
		for k, want := range []uint64{0, 50 * 512, 100 * 512} {
			if sp[k].start != want {
				t.Errorf("segment %d starts at %d, want %d (post-edit, no presentationTimeOffset)", k, sp[k].start, want)
			}
		}
		if got := outputDTS(v, v.Samples[0]); got != 0 {
			t.Errorf("first tfdt %d, want 0", got)
		}
		if w := editIntoGOP(v); w != 0 {
			t.Errorf("edit on the first sync sample reported %d ticks into a GOP", w)
		}
	})
	t.Run("empty edit delays the track", func(t *testing.T) {
		a := synthetic(media.Audio, 48000, 300, 1024, 1, 0)
		a.EditMediaTime, a.EditDelay = 1024, 22944 // priming, 0.478 s empty edit
		sp := spans(a, []int{0, 94, 188})
		if sp[0].start != 21920 {
			t.Errorf("first segment starts at %d, want the delay minus priming (21920)", sp[0].start)
		}
		if got := outputDTS(a, a.Samples[0]); got != 22944 {
			t.Errorf("first tfdt %d, want the empty edit's 22944", got)
		}
		last := sp[len(sp)-1]
		if end := last.start + last.dur; end != 300*1024-1024+22944 {
			t.Errorf("track ends at %d, want %d", end, 300*1024-1024+22944)
		}
	})
	t.Run("edit into a GOP", func(t *testing.T) {
		v := synthetic(media.Video, ts, 200, 512, 50, 0)
		v.EditMediaTime = 35 * 512 // presentation starts at frame 35; the next sync sample is frame 50
		sp := spans(v, []int{0, 50, 100, 150})
		if sp[0].start != 0 || sp[1].start != 15*512 {
			t.Errorf("segment starts %d, %d; want 0 and %d", sp[0].start, sp[1].start, 15*512)
		}
		if w := editIntoGOP(v); w != 15*512 {
			t.Errorf("editIntoGOP %d, want %d", w, 15*512)
		}
		p, err := planSegments([]*media.Track{v}, map[*media.Track]string{v: "video"}, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(p.warnings, func(w string) bool { return strings.Contains(w, "0.600s before the next sync sample") }) {
			t.Errorf("warnings %q, want one about the edit into a GOP", p.warnings)
		}
	})
}

// TestLongGOPWarningCountsEverySegment: with every GOP longer than the
// target, the warning counts all segments, the last one included.
func TestLongGOPWarningCountsEverySegment(t *testing.T) {
	v := synthetic(media.Video, 15360, 540, 512, 90, 0) // 18 s of 3 s GOPs: 6 segments
	p, err := planSegments([]*media.Track{v}, map[*media.Track]string{v: "video"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.warnings) != 1 || !strings.Contains(p.warnings[0], "6 segment(s)") {
		t.Errorf("warnings %q, want 6 long segments", p.warnings)
	}
}

// TestKeyPeriodBounds: key periods are whole segments, start after the
// clear lead, move to the next segment boundary where a GOP straddles the
// nominal one, and audio switches at the same segment as video.
func TestKeyPeriodBounds(t *testing.T) {
	cases := []struct {
		name     string
		gop      int // frames at 30 fps; 300 frames = 10 s
		segment  time.Duration
		lead     time.Duration
		period   time.Duration
		wantSegs []int // first segment index of every key period (video)
	}{
		{"4s periods of 2s segments", 60, 2 * time.Second, 0, 4 * time.Second, []int{0, 2, 4}},
		{"periods follow the clear lead", 60, 2 * time.Second, 2 * time.Second, 4 * time.Second, []int{0, 3}},
		// 3 s GOPs: segments start at 0, 3, 6, 9; the 4 s boundary moves to
		// 6 s and the 8 s one to 9 s.
		{"a GOP straddles the boundary", 90, 2 * time.Second, 0, 4 * time.Second, []int{0, 2, 3}},
		{"period as long as a segment", 60, 2 * time.Second, 0, 2 * time.Second, []int{0, 1, 2, 3, 4}},
		{"one period covers everything", 60, 2 * time.Second, 0, time.Minute, []int{0}},
		{"clear lead covers everything", 60, 2 * time.Second, time.Minute, 4 * time.Second, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := synthetic(media.Video, 15360, 300, 512, tc.gop, 1024)
			a := synthetic(media.Audio, 48000, 469, 1024, 1, 0)
			p, err := planSegments([]*media.Track{v, a}, map[*media.Track]string{v: "video", a: "audio"}, tc.segment)
			if err != nil {
				t.Fatal(err)
			}
			bounds := p.keyPeriodBounds(p.clearLeadEnd(tc.lead), tc.period)
			vf, err := periodFirsts(v, p.spans[v], bounds)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(vf, tc.wantSegs) {
				t.Fatalf("video key periods start at segments %v, want %v (bounds %v)", vf, tc.wantSegs, bounds)
			}
			af, err := periodFirsts(a, p.spans[a], bounds)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(af, vf) {
				t.Errorf("audio key periods start at segments %v, video at %v", af, vf)
			}
			for n, k := range vf[1:] {
				vs := ticksToDuration(int64(p.spans[v][k].start), v.Timescale)
				as := ticksToDuration(int64(p.spans[a][af[n+1]].start), a.Timescale)
				if d := as - vs; d < 0 || d > 25*time.Millisecond {
					t.Errorf("key period %d: audio starts at %s, video at %s", n+1, as, vs)
				}
			}
		})
	}
}
