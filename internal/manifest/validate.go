package manifest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidTrack reports a track the manifest writers cannot describe.
var ErrInvalidTrack = errors.New("invalid track")

// ValidateTracks checks a presentation's track list for a format writer: at
// least one track, each passing check (the format's own rules, which include
// Validate) in order, no two with the same ID. The list and ID errors wrap
// invalid, the writer's own sentinel; check's errors are returned as they are.
func ValidateTracks(tracks []Track, invalid error, check func(*Track) error) error {
	if len(tracks) == 0 {
		return fmt.Errorf("%w: no tracks", invalid)
	}
	ids := make(map[string]bool, len(tracks))
	for i := range tracks {
		t := &tracks[i]
		if err := check(t); err != nil {
			return err
		}
		if ids[t.ID] {
			return fmt.Errorf("%w: duplicate track ID %q", invalid, t.ID)
		}
		ids[t.ID] = true
	}
	return nil
}

// Validate checks what every manifest format needs of a track: identity,
// codecs, timescale, bandwidth, files, consecutive segment numbers, video
// size and frame rate, audio channels. Each format adds its own rules.
func (t *Track) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidTrack, t.ID, fmt.Sprintf(format, a...))
	}
	switch {
	case t.ID == "":
		return bad("empty ID")
	case t.Type != Video && t.Type != Audio && t.Type != Text:
		return bad("unknown content type %d", t.Type)
	case t.Codecs == "":
		return bad("empty codecs")
	case t.Timescale == 0:
		return bad("zero timescale")
	case t.Bandwidth <= 0 || t.Bandwidth > math.MaxUint32:
		return bad("bandwidth %d out of range", t.Bandwidth)
	case t.InitFile == "" || !strings.Contains(t.MediaPattern, "$Number$"):
		return bad("init file or $Number$ media pattern missing")
	case len(t.Segments) == 0:
		return bad("no segments")
	case t.StartNumber < 0 || t.StartNumber > math.MaxUint32-len(t.Segments):
		return bad("start number %d out of range", t.StartNumber)
	}
	for i, s := range t.Segments {
		if s.Number != t.StartNumber+i {
			return bad("segment %d has number %d, want %d (numbers must be consecutive from StartNumber)", i, s.Number, t.StartNumber+i)
		}
	}
	for i, p := range t.KeyPeriods {
		switch {
		case i == 0 && p.FirstSegment != t.StartNumber:
			return bad("key period %d starts at segment %d, want the first segment %d", p.Index, p.FirstSegment, t.StartNumber)
		case i > 0 && (p.FirstSegment <= t.KeyPeriods[i-1].FirstSegment || p.Index <= t.KeyPeriods[i-1].Index):
			return bad("key period %d (segment %d) does not follow key period %d", p.Index, p.FirstSegment, t.KeyPeriods[i-1].Index)
		case p.FirstSegment >= t.StartNumber+len(t.Segments):
			return bad("key period %d starts at segment %d, after the last segment", p.Index, p.FirstSegment)
		case p.InitFile == "":
			return bad("key period %d has no init file", p.Index)
		case (p.Protection == nil) != (t.Protection == nil):
			return bad("key period %d is protected differently from the track", p.Index)
		}
	}
	switch t.Type {
	case Video:
		if t.Width <= 0 || t.Height <= 0 || t.Width > math.MaxUint32 || t.Height > math.MaxUint32 {
			return bad("video size %dx%d", t.Width, t.Height)
		}
		if _, ok := FrameRateValue(t.FrameRate); !ok {
			return bad("frame rate %q", t.FrameRate)
		}
	case Audio:
		if t.Channels <= 0 {
			return bad("%d channels", t.Channels)
		}
	case Text:
		if t.Label == "" || strings.ContainsAny(t.Label, "\"\r\n") {
			return bad("text track label %q is empty or holds a quote or line break", t.Label)
		}
		if !strings.Contains(t.WebVTTPattern, "$Number$") {
			return bad("text track without a $Number$ WebVTT pattern")
		}
	}
	return nil
}

// Path joins a file name to the track's directory with a forward slash.
func (t *Track) Path(name string) string {
	dir := strings.TrimSuffix(t.Dir, "/")
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// FrameRateValue parses "30" or "30000/1001" (positive integers).
func FrameRateValue(s string) (float64, bool) {
	num, den, ratio := strings.Cut(s, "/")
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	d := uint64(1)
	if ratio {
		d, err = strconv.ParseUint(den, 10, 32)
		if err != nil || d == 0 {
			return 0, false
		}
	}
	return float64(n) / float64(d), true
}
