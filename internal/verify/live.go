package verify

import (
	"fmt"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	m3u8 "github.com/Eyevinn/hls-m3u8/m3u8"
)

// Live manifests: a dynamic MPD and live (sliding window) media playlists
// are checked for what a player needs to follow them, on top of the checks
// every manifest gets (signaling, init segments, decryption per key period).

// checkLiveMPD checks a dynamic MPD's live attributes (ISO/IEC 23009-1
// §5.3.1.2, Table 3), its UTCTiming (DASH-IF IOP timing model: "The MPD of
// a dynamic presentation SHALL include at least one UTCTiming element"),
// required with Options.Live, its Periods (each with an @id, unique, and an @start, in order: ISO/IEC
// 23009-1 §5.3.2.2) and its window: no Representation lists more media
// than timeShiftBufferDepth plus one segment.
func (c *checker) checkLiveMPD(file string, m *mpd.MPD) {
	if m.Type == nil || *m.Type != mpd.DYNAMIC_TYPE {
		return
	}
	const w = "MPD"
	if m.AvailabilityStartTime == "" {
		c.problem(file, w, "dynamic MPD without availabilityStartTime")
	}
	if m.PublishTime == "" {
		c.problem(file, w, "dynamic MPD without publishTime")
	}
	if m.MinimumUpdatePeriod == nil {
		c.problem(file, w, "dynamic MPD without minimumUpdatePeriod: players never reload it")
	}
	if m.MediaPresentationDuration != nil {
		c.problem(file, w, "dynamic MPD with mediaPresentationDuration (a live stream's end is a static MPD)")
	}
	if c.opts.Live && len(m.UTCTimings) == 0 {
		c.problem(file, w, "dynamic MPD without UTCTiming: players cannot align their clock with the window")
	}
	if m.TimeShiftBufferDepth == nil {
		c.problem(file, w, "dynamic MPD without timeShiftBufferDepth (the window)")
	}
	ids := map[string]bool{}
	var prev time.Duration = -1
	listed := map[string]time.Duration{}
	longest := map[string]time.Duration{}
	for pi, p := range m.Periods {
		pw := fmt.Sprintf("MPD/Period[%d]", pi)
		switch {
		case p.Id == "":
			c.problem(file, pw, "Period without @id in a dynamic MPD: players match Periods across updates by it")
		case ids[p.Id]:
			c.problem(file, pw, "Period@id %q appears twice", p.Id)
		}
		ids[p.Id] = true
		if p.Start == nil {
			c.problem(file, pw, "Period without @start in a dynamic MPD")
		} else {
			start := time.Duration(*p.Start)
			if start < prev {
				c.problem(file, pw, "Period@start %s before the previous Period's %s", start, prev)
			}
			prev = start
		}
		for _, as := range p.AdaptationSets {
			for _, rep := range as.Representations {
				st := rep.GetSegmentTemplate() // the Representation's, else its AdaptationSet's
				if st == nil || st.SegmentTimeline == nil {
					continue
				}
				ts := time.Duration(st.GetTimescale())
				for _, s := range st.SegmentTimeline.S {
					d := time.Duration(s.D) * time.Second / ts
					listed[rep.Id] += d * time.Duration(s.R+1)
					longest[rep.Id] = max(longest[rep.Id], d)
				}
			}
		}
	}
	if m.TimeShiftBufferDepth != nil {
		tsbd := time.Duration(*m.TimeShiftBufferDepth)
		for id, d := range listed {
			if d > tsbd+longest[id]+time.Millisecond {
				c.problem(file, w, "Representation %q lists %s of media, more than timeShiftBufferDepth %s and one segment", id, d, tsbd)
			}
		}
	}
}

// checkLivePlaylist checks a live media playlist (no EXT-X-ENDLIST, no
// EXT-X-PLAYLIST-TYPE) against the sliding window rules of RFC 8216
// §6.2.2: once segments have left the window (EXT-X-MEDIA-SEQUENCE above
// the first number, 0 or 1), it still lists at least three target
// durations, and a playlist whose window crossed a discontinuity says how
// many (EXT-X-DISCONTINUITY-SEQUENCE, §4.3.3.3).
func (c *checker) checkLivePlaylist(file string, pl *m3u8.MediaPlaylist, raw []byte) {
	if pl.Closed || pl.MediaType != 0 {
		return
	}
	var total float64
	for _, s := range pl.Segments {
		if s != nil {
			total += s.Duration
		}
	}
	if pl.SeqNo > 1 && total < 3*float64(pl.TargetDuration) {
		c.problem(file, "EXT-X-MEDIA-SEQUENCE", "live playlist slid to segment %d but lists %.3fs, less than three target durations (%ds)", pl.SeqNo, total, 3*pl.TargetDuration)
	}
	if pl.SeqNo > 1 && strings.Contains(string(raw), "#EXT-X-DISCONTINUITY\n") && !strings.Contains(string(raw), "#EXT-X-DISCONTINUITY-SEQUENCE:") {
		c.problem(file, "EXT-X-DISCONTINUITY", "live playlist with discontinuities and no EXT-X-DISCONTINUITY-SEQUENCE")
	}
}
