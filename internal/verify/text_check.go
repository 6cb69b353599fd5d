package verify

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/Eyevinn/hls-m3u8/m3u8"

	"github.com/drmpipe/drmpipe/internal/media/webvtt"
)

// validateWvtt checks one sample of a WebVTT-in-ISOBMFF track (ISO/IEC
// 14496-30 §7.4): one vtte box alone, or one or more vttc boxes each with
// a payl; "" means well-formed.
func validateWvtt(b []byte) string {
	var types []string
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return fmt.Sprintf("%d trailing bytes", len(b)-off)
		}
		size := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if size < 8 || size > len(b)-off {
			return fmt.Sprintf("box %q at %d has size %d", typ, off, size)
		}
		if typ == "vttc" && !hasChild(b[off+8:off+size], "payl") {
			return fmt.Sprintf("vttc at %d without payl", off)
		}
		if typ != "vttc" && typ != "vtte" && typ != "vtta" {
			return fmt.Sprintf("box %q is not vttc, vtte or vtta", typ)
		}
		types = append(types, typ)
		off += size
	}
	switch {
	case len(types) == 0:
		return "empty sample (an empty interval is a vtte box)"
	case len(types) > 1 && strings.Contains(strings.Join(types, ","), "vtte"):
		return "vtte together with other boxes"
	}
	return ""
}

func hasChild(b []byte, typ string) bool {
	for off := 0; len(b)-off >= 8; {
		size := int(binary.BigEndian.Uint32(b[off:]))
		if string(b[off+4:off+8]) == typ {
			return true
		}
		if size < 8 {
			return false
		}
		off += size
	}
	return false
}

// checkWebVTTPlaylist checks a media playlist of segmented WebVTT (RFC 8216
// §3.5): every segment exists, parses as WebVTT and carries an
// X-TIMESTAMP-MAP header, as HLS requires of WebVTT segments of a
// presentation whose media does not start at time 0 and as players use to
// place the cues.
func (c *checker) checkWebVTTPlaylist(file string, pl *m3u8.MediaPlaylist) {
	for i, seg := range pl.Segments {
		if seg == nil {
			continue
		}
		where := fmt.Sprintf("segment[%d]", i)
		p, ok := c.resolve(file, where, seg.URI)
		if !ok || !c.exists(file, where, p) {
			continue
		}
		data, err := c.read(whole(p))
		if err != nil {
			c.problem(file, where, "cannot read %s: %v", p, err)
			continue
		}
		vtt, err := webvtt.Parse(p, data)
		if err != nil {
			c.problem(file, where, "%v", err)
			continue
		}
		hasMap := false
		for _, h := range vtt.Header {
			hasMap = hasMap || strings.HasPrefix(h, "X-TIMESTAMP-MAP=")
		}
		if !hasMap {
			c.problem(p, "", "WebVTT segment without X-TIMESTAMP-MAP (RFC 8216 §3.5)")
		}
	}
}

// isWebVTTPlaylist reports whether a media playlist lists WebVTT segments:
// no EXT-X-MAP and segment URIs ending in .vtt or .webvtt.
func isWebVTTPlaylist(pl *m3u8.MediaPlaylist) bool {
	if pl.Map != nil {
		return false
	}
	n := 0
	for _, s := range pl.Segments {
		if s == nil {
			continue
		}
		u, _, _ := strings.Cut(s.URI, "?")
		if !strings.HasSuffix(u, ".vtt") && !strings.HasSuffix(u, ".webvtt") {
			return false
		}
		n++
	}
	return n > 0
}
