package hls

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/drmpipe/drmpipe/internal/manifest"
)

// audioGroup is one EXT-X-MEDIA GROUP-ID: the audio tracks of one codec family.
type audioGroup struct {
	id     string
	tracks []*manifest.Track
	codecs []string // distinct codecs strings, in track order
}

// MarshalMultivariant returns the multivariant playlist of p (RFC 8216
// §4.3.4), referencing each media playlist as Dir + "/playlist.m3u8":
//   - EXT-X-SESSION-KEY for every distinct key tag of the media playlists,
//     with the same METHOD, URI, KEYFORMAT and KEYFORMATVERSIONS (§4.3.4.5),
//     so clients can set up DRM before loading a media playlist;
//   - one EXT-X-MEDIA TYPE=AUDIO per audio track, grouped by codec family
//     (GROUP-ID "audio_<family>"), the first of each group DEFAULT=YES;
//   - one EXT-X-MEDIA TYPE=SUBTITLES per text track in the group "subs"
//     (§4.3.4.1), named by its Label, none DEFAULT (the viewer turns
//     subtitles on), all AUTOSELECT; every EXT-X-STREAM-INF then names the
//     group in SUBTITLES (§4.3.4.2). The WebVTT segments have no RFC 6381
//     codec, so CODECS does not change;
//   - one EXT-X-STREAM-INF per video track and audio group, whose BANDWIDTH
//     is the video peak plus the largest audio peak of the group and whose
//     AVERAGE-BANDWIDTH is the sum of the averages likewise (§4.3.4.2).
//
// A presentation without video gets one EXT-X-STREAM-INF per audio track.
func MarshalMultivariant(p manifest.Presentation) ([]byte, error) {
	if err := manifest.ValidateTracks(p.Tracks, ErrInvalidPresentation, validateTrack); err != nil {
		return nil, err
	}
	var videos, texts []*manifest.Track
	var groups []*audioGroup
	byID := map[string]*audioGroup{}
	var sessionKeys []string
	seenKey := map[string]bool{}
	for i := range p.Tracks {
		t := &p.Tracks[i]
		if strings.ContainsAny(t.Codecs+t.Language, "\"\r\n,") {
			return nil, fmt.Errorf("%w: track %q: codecs or language not usable in a quoted-string", ErrInvalidPresentation, t.ID)
		}
		if t.Protection != nil {
			keys, err := keyAttributes(t.Protection)
			if err != nil {
				return nil, fmt.Errorf("track %q: %w", t.ID, err)
			}
			for _, k := range keys {
				if !seenKey[k] {
					seenKey[k] = true
					sessionKeys = append(sessionKeys, k)
				}
			}
		}
		switch t.Type {
		case manifest.Video:
			videos = append(videos, t)
		case manifest.Text:
			texts = append(texts, t)
		case manifest.Audio:
			id := "audio_" + codecFamily(t.Codecs)
			g := byID[id]
			if g == nil {
				g = &audioGroup{id: id}
				byID[id] = g
				groups = append(groups, g)
			}
			g.tracks = append(g.tracks, t)
			if !contains(g.codecs, t.Codecs) {
				g.codecs = append(g.codecs, t.Codecs)
			}
		}
	}

	var b strings.Builder
	b.WriteString("#EXTM3U\n")
	fmt.Fprintf(&b, "#EXT-X-VERSION:%d\n", Version)
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, k := range sessionKeys {
		fmt.Fprintf(&b, "#EXT-X-SESSION-KEY:%s\n", k)
	}

	subtitles, err := subtitleMedia(&b, texts)
	if err != nil {
		return nil, err
	}
	if len(videos) == 0 {
		// Audio-only: every audio track is a variant of its own.
		for _, t := range p.Tracks {
			if t.Type != manifest.Audio {
				continue
			}
			var a attrList
			a.integer("BANDWIDTH", t.Bandwidth)
			if t.AverageBandwidth > 0 {
				a.integer("AVERAGE-BANDWIDTH", t.AverageBandwidth)
			}
			a.quoted("CODECS", t.Codecs)
			if subtitles {
				a.quoted("SUBTITLES", SubtitlesGroup)
			}
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:%s\n%s\n", a.String(), t.Path(MediaPlaylistName))
		}
		return []byte(b.String()), nil
	}

	for _, g := range groups {
		names := map[string]bool{}
		for i, t := range g.tracks {
			// NAME must be unique within the group (§4.3.4.1.1).
			name := t.Language
			if name == "" || names[name] {
				name = t.ID
			}
			names[name] = true
			var a attrList
			a.enum("TYPE", "AUDIO")
			a.quoted("GROUP-ID", g.id)
			a.quoted("NAME", name)
			if t.Language != "" {
				a.quoted("LANGUAGE", t.Language)
			}
			a.enum("DEFAULT", yesNo(i == 0))
			a.enum("AUTOSELECT", "YES")
			a.quoted("CHANNELS", strconv.Itoa(t.Channels))
			a.quoted("URI", t.Path(MediaPlaylistName))
			if a.err != nil {
				return nil, a.err
			}
			fmt.Fprintf(&b, "#EXT-X-MEDIA:%s\n", a.String())
		}
	}

	variantGroups := groups
	if len(variantGroups) == 0 {
		variantGroups = []*audioGroup{nil} // video without audio
	}
	for _, g := range variantGroups {
		for _, v := range videos {
			bw, avg := v.Bandwidth, v.AverageBandwidth
			codecs := []string{v.Codecs}
			if g != nil {
				var peak, mean int
				for _, t := range g.tracks {
					peak = max(peak, t.Bandwidth)
					mean = max(mean, t.AverageBandwidth)
				}
				bw += peak
				if avg > 0 && mean > 0 {
					avg += mean
				} else {
					avg = 0
				}
				codecs = append(codecs, g.codecs...)
			}
			rate, _ := manifest.FrameRateValue(v.FrameRate)
			var a attrList
			a.integer("BANDWIDTH", bw)
			if avg > 0 {
				a.integer("AVERAGE-BANDWIDTH", avg)
			}
			a.quoted("CODECS", strings.Join(codecs, ","))
			a.enum("RESOLUTION", fmt.Sprintf("%dx%d", v.Width, v.Height))
			a.enum("FRAME-RATE", strconv.FormatFloat(rate, 'f', 3, 64))
			if g != nil {
				a.quoted("AUDIO", g.id)
			}
			if subtitles {
				a.quoted("SUBTITLES", SubtitlesGroup)
			}
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:%s\n%s\n", a.String(), v.Path(MediaPlaylistName))
		}
	}
	return []byte(b.String()), nil
}

// SubtitlesGroup is the GROUP-ID of the subtitle renditions.
const SubtitlesGroup = "subs"

// subtitleMedia writes one EXT-X-MEDIA TYPE=SUBTITLES per text track and
// reports whether there was any. NAME must be unique in the group
// (§4.3.4.1.1): a repeated label gets the track ID appended.
func subtitleMedia(b *strings.Builder, texts []*manifest.Track) (bool, error) {
	names := map[string]bool{}
	for _, t := range texts {
		name := t.Label
		if names[name] {
			name += " (" + t.ID + ")"
		}
		names[name] = true
		var a attrList
		a.enum("TYPE", "SUBTITLES")
		a.quoted("GROUP-ID", SubtitlesGroup)
		a.quoted("NAME", name)
		if t.Language != "" {
			a.quoted("LANGUAGE", t.Language)
		}
		a.enum("DEFAULT", "NO")
		a.enum("AUTOSELECT", "YES")
		a.quoted("URI", t.Path(MediaPlaylistName))
		if a.err != nil {
			return false, fmt.Errorf("track %q: %w", t.ID, a.err)
		}
		fmt.Fprintf(b, "#EXT-X-MEDIA:%s\n", a.String())
	}
	return len(texts) > 0, nil
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// codecFamily names the audio group of a codecs string: "aac" for every
// mp4a.* profile, otherwise the sample entry 4CC ("ac-3", "ec-3", ...).
func codecFamily(codecs string) string {
	fourCC, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(codecs)), ".")
	if fourCC == "mp4a" {
		return "aac"
	}
	return fourCC
}
