package dash

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/manifesttest"
)

// liveWindow is the key_rotation case as a live window: the first key
// period (segments 1 and 2) has left it.
func liveWindow(t *testing.T) manifest.Presentation {
	t.Helper()
	p := manifesttest.Named(t, "key_rotation")
	for i := range p.Tracks {
		tr := &p.Tracks[i]
		tr.Segments = tr.Segments[2:]
		tr.StartNumber = tr.Segments[0].Number
		tr.KeyPeriods = tr.KeyPeriods[1:]
		tr.InitFile, tr.Protection = tr.KeyPeriods[0].InitFile, tr.KeyPeriods[0].Protection
	}
	return p
}

// A live MPD is dynamic (ISO/IEC 23009-1 §5.4) with the timing attributes
// and a UTCTiming element, no duration, and its first Period starts where
// its media does, not at 0: a Period keeps its start as the window slides.
func TestLiveMPD(t *testing.T) {
	ast := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	b, err := Marshal(liveWindow(t), Options{Live: &Live{
		AvailabilityStartTime: ast, PublishTime: ast.Add(10 * time.Second),
		MinimumUpdatePeriod: 2 * time.Second, TimeShiftBufferDepth: 30 * time.Second, UTCTimingURL: "/live/time",
		SuggestedPresentationDelay: 6 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.ReadFromString(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if m.GetType() != "dynamic" || m.AvailabilityStartTime != "2026-05-01T12:00:00.000Z" || m.PublishTime != "2026-05-01T12:00:10.000Z" ||
		m.MediaPresentationDuration != nil || m.MinimumUpdatePeriod.String() != "PT2S" || m.TimeShiftBufferDepth.String() != "PT30S" ||
		m.SuggestedPresentationDelay == nil || m.SuggestedPresentationDelay.String() != "PT6S" {
		t.Fatalf("MPD attributes:\n%s", b)
	}
	if len(m.UTCTimings) != 1 || m.UTCTimings[0].SchemeIdUri != UTCTimingHTTPISO || m.UTCTimings[0].Value != "/live/time" {
		t.Fatalf("UTCTiming: %+v", m.UTCTimings)
	}
	if len(m.Periods) != 2 || m.Periods[0].Id != "1" || m.Periods[0].Start.String() != "PT4S" || m.Periods[1].Id != "2" {
		t.Fatalf("Periods:\n%s", b)
	}
	if !strings.Contains(string(b), `startNumber="3"`) {
		t.Fatalf("the first Period does not start at segment 3:\n%s", b)
	}
}

// periodStartGaps returns, for every Period and AdaptationSet of m, how
// far after Period@start its first segment is presented (ISO/IEC
// 23009-1 §5.3.9.2: at Period@start + (t - presentationTimeOffset) /
// timescale), in seconds. A positive gap is a hole at the start of the
// Period that players must jump (dash.js: "gap in the manifest").
func periodStartGaps(t *testing.T, m *mpd.MPD) map[string]float64 {
	t.Helper()
	gaps := map[string]float64{}
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			st := as.SegmentTemplate
			if st == nil {
				st = as.Representations[0].SegmentTemplate
			}
			if st == nil || st.SegmentTimeline == nil || len(st.SegmentTimeline.S) == 0 {
				t.Fatalf("Period %s AdaptationSet %d: no SegmentTimeline", p.Id, *as.Id)
			}
			var first, pto uint64
			if s := st.SegmentTimeline.S[0]; s.T != nil {
				first = *s.T
			}
			if st.PresentationTimeOffset != nil {
				pto = *st.PresentationTimeOffset
			}
			gaps["period "+p.Id+" "+string(as.ContentType)] = (float64(first) - float64(pto)) / float64(*st.Timescale)
		}
	}
	return gaps
}

// The final MPD of an ended channel lists its last window, which need not
// start at media time 0: its first Period starts at 0 (DASH-IF timing
// model: the first Period of a static presentation starts at the zero
// point) with the presentationTimeOffset of the first listed segment, so
// the presentation opens with media, not with a gap.
func TestStaticWindowStartsAtFirstSegment(t *testing.T) {
	b, err := Marshal(liveWindow(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.ReadFromString(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Periods) != 2 || m.Periods[0].Start == nil || m.Periods[0].Start.String() != "PT0S" || m.Periods[1].Start.String() != "PT4S" {
		t.Fatalf("Periods of the window from 4 s to 8.5 s must start at 0 and 4 s:\n%s", b)
	}
	if g := periodStartGaps(t, m)["period 1 video"]; g != 0 {
		t.Fatalf("the first listed video segment is presented %gs after the presentation start:\n%s", g, b)
	}
}

// Audio is cut on its frame boundaries, so its key periods start up to one
// frame after the video's (4.0107 s for 4 s in the key_rotation case).
// Every AdaptationSet's first segment is still presented exactly at its
// Period's start, in VOD, live and final MPDs: no gap for players to jump
// (DASH-IF timing model: a representation covers the entire Period).
func TestPeriodsStartWithEveryTrack(t *testing.T) {
	live := &Live{AvailabilityStartTime: time.Unix(0, 0), PublishTime: time.Unix(10, 0), MinimumUpdatePeriod: 2 * time.Second,
		TimeShiftBufferDepth: 30 * time.Second, UTCTimingURL: "/live/time"}
	for _, c := range []struct {
		name string
		p    manifest.Presentation
		opt  Options
	}{
		{"vod", manifesttest.Named(t, "key_rotation"), Options{}},
		{"live", liveWindow(t), Options{Live: live}},
		{"final", liveWindow(t), Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if a := c.p.Tracks[1]; a.Type != manifest.Audio || a.Segments[2].Start == 4*uint64(a.Timescale) {
				t.Fatal("the case has no audio key period starting after the video's")
			}
			b, err := Marshal(c.p, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mpd.ReadFromString(string(b))
			if err != nil {
				t.Fatal(err)
			}
			gaps := periodStartGaps(t, m)
			if len(gaps) != 2*len(m.Periods) {
				t.Fatalf("want a video and an audio AdaptationSet per Period: %v", gaps)
			}
			for as, g := range gaps {
				if g != 0 {
					t.Errorf("%s: first segment presented %.4f s after the Period start", as, g)
				}
			}
			if t.Failed() {
				t.Logf("MPD:\n%s", b)
			}
		})
	}
}

// A live Period whose first segments left the window keeps the start and
// offsets it was first published with (KeyPeriod.Start): the MPD update
// moves no segment already on the MPD timeline.
func TestLivePeriodKeepsItsTiming(t *testing.T) {
	live := Options{Live: &Live{AvailabilityStartTime: time.Unix(0, 0), PublishTime: time.Unix(10, 0), MinimumUpdatePeriod: 2 * time.Second,
		TimeShiftBufferDepth: 30 * time.Second, UTCTimingURL: "/live/time"}}
	before := liveWindow(t)
	slid := liveWindow(t)
	for i := range slid.Tracks {
		tr := &slid.Tracks[i]
		start := tr.Segments[0].Start
		tr.KeyPeriods[0].Start = &start
		tr.KeyPeriods[0].FirstSegment++
		tr.Segments = tr.Segments[1:]
		tr.StartNumber = tr.Segments[0].Number
	}
	mb, err := Marshal(before, live)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Marshal(slid, live)
	if err != nil {
		t.Fatal(err)
	}
	attrs := regexp.MustCompile(`<Period [^>]*>|presentationTimeOffset="\d+"`)
	if a, b := attrs.FindAllString(string(mb), -1), attrs.FindAllString(string(ms), -1); !slices.Equal(a, b) {
		t.Fatalf("Period starts and offsets changed as the window slid:\n%q\n%q\n%s", a, b, ms)
	}
	if !strings.Contains(string(ms), `startNumber="4"`) {
		t.Fatalf("the slid window does not start at segment 4:\n%s", ms)
	}
}

// In a VOD presentation from media time 0, a track whose first segment
// starts later (audio behind an empty edit) keeps that start in the first
// Period: its offset is content timing, not a cut on a frame boundary.
func TestVODFirstPeriodKeepsEditOffset(t *testing.T) {
	p := manifesttest.Named(t, "key_rotation")
	a := &p.Tracks[1]
	a.Segments[0].Start, a.Segments[0].Duration = 960, a.Segments[0].Duration-960
	m, err := mpd.ReadFromString(string(mustMarshal(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	if g := periodStartGaps(t, m); g["period 0 audio"] != 0.02 || g["period 0 video"] != 0 || g["period 1 audio"] != 0 {
		t.Fatalf("first segment times after Period start: %v", g)
	}
}

func mustMarshal(t *testing.T, p manifest.Presentation) []byte {
	t.Helper()
	b, err := Marshal(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
