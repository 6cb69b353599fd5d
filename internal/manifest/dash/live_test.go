package dash

import (
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
