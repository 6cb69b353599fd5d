// Package hls writes HLS playlists (RFC 8216, draft-pantos-hls-rfc8216bis) for
// packaged CMAF presentations: one VOD media playlist per track, with
// EXT-X-MAP and the EXT-X-KEY tags of every DRM system, and a multivariant
// playlist with EXT-X-SESSION-KEY, audio renditions and variant streams.
//
// The text is written by hand so that attribute order and types are exact
// (the Eyevinn/hls-m3u8 Key type has no KEYID); the tests read every
// playlist back with hls-m3u8.
package hls

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/manifest"
)

// Version is the EXT-X-VERSION of every playlist written here. It is the
// lowest version that allows EXT-X-MAP in a playlist without
// EXT-X-I-FRAMES-ONLY (version 6, rfc8216bis §8), which also covers
// KEYFORMAT/KEYFORMATVERSIONS and METHOD=SAMPLE-AES (version 5) and
// floating-point EXTINF (version 3). From version 6 on, EXT-X-TARGETDURATION
// is compared with durations rounded to the nearest integer. The
// multivariant playlist declares the same version for consistency.
const Version = 6

// MediaPlaylistName is the file name of each track's media playlist in its Dir.
const MediaPlaylistName = "playlist.m3u8"

// MultivariantName is the file name of the multivariant playlist.
const MultivariantName = "master.m3u8"

// Playlist is one playlist file. Path is relative to the output root, with
// forward slashes, e.g. "video_720p/playlist.m3u8" or "master.m3u8".
type Playlist struct {
	Path string
	Data []byte
}

// Marshal returns the multivariant playlist followed by the media playlist
// of every track, in track order.
func Marshal(p manifest.Presentation) ([]Playlist, error) {
	mv, err := MarshalMultivariant(p)
	if err != nil {
		return nil, err
	}
	out := []Playlist{{Path: MultivariantName, Data: mv}}
	for _, t := range p.Tracks {
		data, err := MarshalMedia(t)
		if err != nil {
			return nil, err
		}
		out = append(out, Playlist{Path: t.Path(MediaPlaylistName), Data: data})
	}
	return out, nil
}

// MarshalMedia returns the VOD media playlist of t (RFC 8216 §4.3.3). URIs
// are relative to the playlist, which sits in t.Dir. Segments marked Clear
// (the clear lead) are listed before any EXT-X-KEY; the key tags of all DRM
// systems precede the first encrypted segment, and if a clear segment
// followed an encrypted one it would be preceded by METHOD=NONE.
//
// Where segments switch between clear and encrypted, EXT-X-DISCONTINUITY
// precedes the first segment of the new kind (RFC 8216 §4.3.2.3: the
// encoding parameters change; clear fragments use the clear sample entry,
// encrypted ones the encv/enca entry of the same init segment). hls.js
// stalls at the switch without it: it keeps the clear track configuration
// and never sets up decryption. Shaka Packager writes the same tag there.
// The playlist carries no EXT-X-DISCONTINUITY-SEQUENCE, so its first segment
// has discontinuity sequence number 0 (§4.3.3.3); the packager ends the clear
// lead at the same media time in every track, so the renditions' discontinuity
// sequence numbers agree segment by segment.
func MarshalMedia(t manifest.Track) ([]byte, error) {
	return marshalMedia(t, nil)
}

// Live is what a live media playlist adds (RFC 8216 §6.2.2: a sliding
// window without EXT-X-PLAYLIST-TYPE and EXT-X-ENDLIST).
type Live struct {
	// DiscontinuitySequence is the EXT-X-DISCONTINUITY-SEQUENCE: the
	// discontinuities removed from the front of the window so far.
	DiscontinuitySequence int
	// Epoch is the date of media time 0: every segment gets an
	// EXT-X-PROGRAM-DATE-TIME of Epoch plus its Start (§4.3.2.6).
	Epoch time.Time
}

// MarshalLiveMedia returns the live media playlist of t: the window of
// segments t lists, EXT-X-MEDIA-SEQUENCE the first one's Number, and the
// EXT-X-MAP and EXT-X-KEY tags that govern the first listed segment at the
// top (§6.2.2: a client joining at any point must find them), as in
// MarshalMedia.
func MarshalLiveMedia(t manifest.Track, l Live) ([]byte, error) {
	return marshalMedia(t, &l)
}

func marshalMedia(t manifest.Track, live *Live) ([]byte, error) {
	if err := validateTrack(&t); err != nil {
		return nil, err
	}
	periods, err := mediaKeyPeriods(t)
	if err != nil {
		return nil, err
	}
	pattern := t.MediaPattern
	if t.Type == manifest.Text {
		// Segmented WebVTT: plain text files, no media initialization
		// section (RFC 8216 §3.5, §4.3.2.5).
		pattern = t.WebVTTPattern
	}
	keys, mapLine := periods[0].keys, periods[0].mapLine

	var b strings.Builder
	b.WriteString("#EXTM3U\n")
	fmt.Fprintf(&b, "#EXT-X-VERSION:%d\n", Version)
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", targetDuration(t.Segments, t.Timescale))
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", t.Segments[0].Number)
	if live != nil {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", live.DiscontinuitySequence)
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	if t.Type != manifest.Text {
		fmt.Fprintf(&b, "#EXT-X-MAP:%s\n", mapLine)
	}

	origin := t.Segments[0].Start
	encrypted := false // whether the key tags in force are the DRM keys
	next := 1          // the next key period to start
	for i, s := range t.Segments {
		wantEncrypted := t.Protection != nil && !s.Clear
		if i > 0 && wantEncrypted != encrypted {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if next < len(periods) && s.Number == periods[next].first {
			// A new key period: its init segment, then its keys
			// (RFC 8216 §4.3.2.4, §4.3.2.5: each applies until the next
			// tag of its kind). No discontinuity: the timeline runs on.
			keys = periods[next].keys
			if periods[next].mapLine != mapLine {
				mapLine = periods[next].mapLine
				fmt.Fprintf(&b, "#EXT-X-MAP:%s\n", mapLine)
			}
			next++
			encrypted = false
		}
		if wantEncrypted && !encrypted {
			for _, k := range keys {
				fmt.Fprintf(&b, "#EXT-X-KEY:%s\n", k)
			}
		} else if !wantEncrypted && encrypted {
			b.WriteString("#EXT-X-KEY:METHOD=NONE\n")
		}
		encrypted = wantEncrypted

		from, err := micros(s.Start-origin, t.Timescale)
		if err != nil {
			return nil, err
		}
		to, err := micros(s.Start+s.Duration-origin, t.Timescale)
		if err != nil {
			return nil, err
		}
		if live != nil {
			at, err := micros(s.Start, t.Timescale)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", live.Epoch.Add(time.Duration(at)*time.Microsecond).UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		} else if t.SyncHLS && s.Number == t.Segments[0].Number {
			at, err := micros(s.Start, t.Timescale)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", time.UnixMicro(int64(at)).UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
		}
		name, err := expandNumber(pattern, s.Number)
		if err != nil {
			return nil, fmt.Errorf("track %q: %w", t.ID, err)
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", formatMicros(to-from), name)
	}
	if live == nil {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String()), nil
}

// mediaKeyPeriod is what a media playlist writes where a key period starts.
type mediaKeyPeriod struct {
	first   int      // Number of the period's first segment
	mapLine string   // EXT-X-MAP attribute list
	keys    []string // EXT-X-KEY attribute lists
}

// mediaKeyPeriods returns t's key periods (one without key rotation): the
// init segment and key tags of each, in order.
func mediaKeyPeriods(t manifest.Track) ([]mediaKeyPeriod, error) {
	list := t.KeyPeriods
	if len(list) == 0 {
		list = []manifest.KeyPeriod{{FirstSegment: t.StartNumber, InitFile: t.InitFile, Protection: t.Protection}}
	}
	out := make([]mediaKeyPeriod, 0, len(list))
	for _, p := range list {
		kp := mediaKeyPeriod{first: p.FirstSegment}
		if p.Protection != nil {
			var err error
			if kp.keys, err = keyAttributes(p.Protection); err != nil {
				return nil, fmt.Errorf("track %q: key period %d: %w", t.ID, p.Index, err)
			}
		}
		var a attrList
		a.quoted("URI", p.InitFile)
		if a.err != nil {
			return nil, a.err
		}
		kp.mapLine = a.String()
		out = append(out, kp)
	}
	return out, nil
}

// targetDuration is the EXT-X-TARGETDURATION: the longest segment duration
// rounded up to whole seconds, computed on exact ticks. Rounding up satisfies
// RFC 8216 §4.3.3.1 (each EXTINF rounded to the nearest integer MUST be <=
// the target) and also the stricter pre-version-6 reading.
func targetDuration(segs []manifest.Segment, timescale uint32) uint64 {
	var maxD uint64
	for _, s := range segs {
		maxD = max(maxD, s.Duration)
	}
	ts := uint64(timescale)
	return maxD/ts + min(1, maxD%ts)
}

// micros converts ticks to microseconds, rounding to nearest. EXTINF values
// are differences of rounded segment boundaries, so their sum equals the
// track duration to within a microsecond however many segments there are.
func micros(ticks uint64, timescale uint32) (uint64, error) {
	ts := uint64(timescale)
	hi, lo := bits.Mul64(ticks, 1_000_000)
	lo, carry := bits.Add64(lo, ts/2, 0)
	hi += carry
	if hi >= ts {
		return 0, fmt.Errorf("%w: time %d/%d s out of range", ErrInvalidPresentation, ticks, timescale)
	}
	q, _ := bits.Div64(hi, lo, ts)
	return q, nil
}

// formatMicros writes a decimal-floating-point number of seconds with six
// decimals, trailing zeros trimmed down to three ("2.000", "2.002", "1.984").
func formatMicros(us uint64) string {
	s := fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 4 {
		s = s[:len(s)-1]
	}
	return s
}

// expandNumber substitutes the DASH-style $Number$ or $Number%0<w>d$
// identifier (ISO/IEC 23009-1 §5.3.9.4.4) in pattern with n.
func expandNumber(pattern string, n int) (string, error) {
	i := strings.Index(pattern, "$Number")
	if i < 0 {
		return "", fmt.Errorf("%w: media pattern %q has no $Number$", ErrInvalidPresentation, pattern)
	}
	rest := pattern[i+len("$Number"):]
	j := strings.IndexByte(rest, '$')
	if j < 0 {
		return "", fmt.Errorf("%w: media pattern %q: unterminated identifier", ErrInvalidPresentation, pattern)
	}
	format := rest[:j]
	num := strconv.Itoa(n)
	if format != "" {
		w, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(format, "%0"), "d"))
		if err != nil || !strings.HasPrefix(format, "%0") || !strings.HasSuffix(format, "d") || w < 1 || w > 32 {
			return "", fmt.Errorf("%w: media pattern %q: unsupported format %q", ErrInvalidPresentation, pattern, format)
		}
		num = fmt.Sprintf("%0*d", w, n)
	}
	out := pattern[:i] + num + rest[j+1:]
	if strings.Contains(out, "$Number") {
		return "", fmt.Errorf("%w: media pattern %q: more than one $Number$", ErrInvalidPresentation, pattern)
	}
	return out, nil
}

// frameRateValue parses "30" or "30000/1001".

// validateTrack adds HLS's rules to the common ones: segments have a
// duration and do not overlap (EXTINF), and paths can stand as URI lines
// and quoted-strings.
func validateTrack(t *manifest.Track) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPresentation, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: track %q: %s", ErrInvalidPresentation, t.ID, fmt.Sprintf(format, a...))
	}
	if strings.ContainsAny(t.Dir+t.InitFile+t.MediaPattern+t.WebVTTPattern, "\"\x00\t\r\n\v\f ") ||
		strings.HasPrefix(t.MediaPattern, "#") || strings.HasPrefix(t.Dir, "#") {
		// A URI line must not be taken for a tag or comment (RFC 8216 §4.1),
		// and quoted-strings cannot hold quotes or line breaks (§4.2).
		return bad("paths cannot start with '#' or contain whitespace or double quotes")
	}
	for i, s := range t.Segments {
		if s.Duration == 0 {
			return bad("segment %d has zero duration", s.Number)
		}
		if i > 0 && s.Start < t.Segments[i-1].Start+t.Segments[i-1].Duration {
			return bad("segment %d overlaps the previous one", s.Number)
		}
		if s.Start+s.Duration < s.Start {
			return bad("segment %d end time overflows", s.Number)
		}
	}
	return nil
}
