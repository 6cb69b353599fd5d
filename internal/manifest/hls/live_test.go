package hls

import (
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/manifest/manifesttest"
)

// A live media playlist (RFC 8216 §6.2.2) has no PLAYLIST-TYPE or ENDLIST,
// carries EXT-X-DISCONTINUITY-SEQUENCE and a program date per segment, and
// starts with the EXT-X-MAP and EXT-X-KEY of its first listed segment.
func TestLiveMediaPlaylist(t *testing.T) {
	var found bool
	for _, c := range manifesttest.Cases() {
		if c.Name != "key_rotation" {
			continue
		}
		found = true
		tr := c.P.Tracks[0]
		tr.Segments = tr.Segments[2:]
		tr.StartNumber = tr.Segments[0].Number
		tr.KeyPeriods = tr.KeyPeriods[1:]
		tr.InitFile, tr.Protection = tr.KeyPeriods[0].InitFile, tr.KeyPeriods[0].Protection
		epoch := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		b, err := MarshalLiveMedia(tr, Live{DiscontinuitySequence: 2, Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		pl := string(b)
		lines := strings.Split(pl, "\n")
		if lines[3] != "#EXT-X-MEDIA-SEQUENCE:3" || lines[4] != "#EXT-X-DISCONTINUITY-SEQUENCE:2" ||
			!strings.HasPrefix(lines[6], `#EXT-X-MAP:URI="init_p1.mp4"`) || !strings.HasPrefix(lines[7], "#EXT-X-KEY:") {
			t.Fatalf("playlist head:\n%s", pl)
		}
		if strings.Contains(pl, "ENDLIST") || strings.Contains(pl, "PLAYLIST-TYPE") {
			t.Fatalf("live playlist with ENDLIST or PLAYLIST-TYPE:\n%s", pl)
		}
		// Segment 3 starts at 4 s (two 2 s segments before it).
		if !strings.Contains(pl, "#EXT-X-PROGRAM-DATE-TIME:2026-05-01T12:00:04.000Z\n#EXTINF:2.000,\nseg_3.m4s") ||
			strings.Count(pl, "#EXT-X-PROGRAM-DATE-TIME:") != len(tr.Segments) {
			t.Fatalf("program dates:\n%s", pl)
		}
	}
	if !found {
		t.Fatal("no key_rotation case")
	}
}
