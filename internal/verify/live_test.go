package verify

import (
	"context"
	"strings"
	"testing"

	m3u8 "github.com/Eyevinn/hls-m3u8/m3u8"
)

// liveMPD is a dynamic MPD as drmpipe's live packager writes it (two key
// periods, 2 s segments, a 6 s window); edit swaps a piece of it.
const liveMPD = `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="2026-01-01T00:00:00.000Z" publishTime="2026-01-01T00:00:10.000Z" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT6S" minBufferTime="PT2S">
  <Period id="1" start="PT2S">
    <AdaptationSet contentType="video">
      <SegmentTemplate media="v/seg_$Number$.m4s" initialization="v/init_p1.mp4" startNumber="2" timescale="1000" presentationTimeOffset="2000">
        <SegmentTimeline><S t="2000" d="2000" r="1"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v" bandwidth="1000" mimeType="video/mp4" codecs="avc1.64000d"/>
    </AdaptationSet>
  </Period>
  <Period id="2" start="PT6S">
    <AdaptationSet contentType="video">
      <SegmentTemplate media="v/seg_$Number$.m4s" initialization="v/init_p2.mp4" startNumber="4" timescale="1000" presentationTimeOffset="6000">
        <SegmentTimeline><S t="6000" d="2000"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v" bandwidth="1000" mimeType="video/mp4" codecs="avc1.64000d"/>
    </AdaptationSet>
  </Period>
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/live/time"/>
</MPD>`

// The live checks of a dynamic MPD: each rule broken once gives its
// problem; the MPD as written, and a static MPD, give none.
func TestCheckLiveMPD(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"valid", "", "", ""},
		{"no UTCTiming, not --live", `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/live/time"/>`, "", "-"},
		{"static", `type="dynamic"`, `type="static"`, ""},
		{"no UTCTiming", `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/live/time"/>`, "", "without UTCTiming"},
		{"no availabilityStartTime", `availabilityStartTime="2026-01-01T00:00:00.000Z"`, "", "without availabilityStartTime"},
		{"no publishTime", `publishTime="2026-01-01T00:00:10.000Z"`, "", "without publishTime"},
		{"no minimumUpdatePeriod", `minimumUpdatePeriod="PT2S"`, "", "without minimumUpdatePeriod"},
		{"no window", `timeShiftBufferDepth="PT6S"`, "", "without timeShiftBufferDepth"},
		{"duration", `minBufferTime="PT2S"`, `minBufferTime="PT2S" mediaPresentationDuration="PT8S"`, "with mediaPresentationDuration"},
		{"Period without id", `<Period id="2"`, `<Period`, "Period without @id"},
		{"Period id twice", `<Period id="2"`, `<Period id="1"`, `Period@id "1" appears twice`},
		{"Period without start", `<Period id="2" start="PT6S">`, `<Period id="2">`, "Period without @start"},
		{"Periods out of order", `start="PT6S"`, `start="PT1S"`, "before the previous Period"},
		{"window overrun", `timeShiftBufferDepth="PT6S"`, `timeShiftBufferDepth="PT2S"`, "more than timeShiftBufferDepth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := liveMPD
			if tc.old != "" {
				if !strings.Contains(doc, tc.old) {
					t.Fatalf("case edits %q, not in the MPD", tc.old)
				}
				doc = strings.Replace(doc, tc.old, tc.new, 1)
			}
			m, err := decodeMPD(context.Background(), []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			c := &checker{report: &Report{}, seen: map[string]bool{}, opts: Options{Live: tc.want != "-"}}
			c.checkLiveMPD("manifest.mpd", m)
			if tc.want == "-" {
				tc.want = ""
			}
			got := ""
			for _, p := range c.report.Problems {
				got += p.String() + "\n"
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}
}

// The sliding window rules of a live media playlist (RFC 8216 §6.2.2).
func TestCheckLivePlaylist(t *testing.T) {
	head := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"
	seg := func(n int) string { return "#EXTINF:2.000,\nseg_" + string(rune('0'+n)) + ".m4s\n" }
	cases := []struct{ name, doc, want string }{
		{"three target durations", head + "#EXT-X-MEDIA-SEQUENCE:4\n" + seg(4) + seg(5) + seg(6), ""},
		{"starting", head + "#EXT-X-MEDIA-SEQUENCE:1\n" + seg(1), ""},
		{"ended", head + "#EXT-X-MEDIA-SEQUENCE:5\n" + seg(5) + "#EXT-X-ENDLIST\n", ""},
		{"short window", head + "#EXT-X-MEDIA-SEQUENCE:5\n" + seg(5) + seg(6), "less than three target durations"},
		{"discontinuity", head + "#EXT-X-MEDIA-SEQUENCE:4\n" + seg(4) + "#EXT-X-DISCONTINUITY\n" + seg(5) + seg(6), "no EXT-X-DISCONTINUITY-SEQUENCE"},
		{"discontinuity counted", head + "#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n" + seg(4) + "#EXT-X-DISCONTINUITY\n" + seg(5) + seg(6), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, lt, err := decodePlaylist([]byte(tc.doc))
			if err != nil || lt != m3u8.MEDIA {
				t.Fatalf("%v %v", lt, err)
			}
			c := &checker{report: &Report{}, seen: map[string]bool{}}
			c.checkLivePlaylist("v/playlist.m3u8", p.(*m3u8.MediaPlaylist), []byte(tc.doc))
			got := ""
			for _, p := range c.report.Problems {
				got += p.String() + "\n"
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
		})
	}
}
