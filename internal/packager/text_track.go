package packager

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/media/webvtt"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// TextInput is a sidecar WebVTT file packaged as a subtitle track.
type TextInput struct {
	Path string
	// Language is a BCP 47 tag such as "en" or "pt-BR"; "" when unknown.
	Language string
	// Name is what players list the track as; default the language, else
	// "Subtitles".
	Name string
}

// languageTag is the shape of a BCP 47 language tag (RFC 5646 §2.1,
// simplified: a 2-3 letter primary language and alphanumeric subtags).
var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// Validate checks a text input's language and name.
func (t TextInput) Validate() error {
	if t.Path == "" {
		return fmt.Errorf("%w: text track without a file", ErrConfig)
	}
	if t.Language != "" && !languageTag.MatchString(t.Language) {
		return fmt.Errorf("%w: %s: language %q is not a BCP 47 tag such as en or pt-BR", ErrConfig, t.Path, t.Language)
	}
	if strings.ContainsAny(t.Name, "\"\r\n") {
		return fmt.Errorf("%w: %s: name %q holds a double quote or line break", ErrConfig, t.Path, t.Name)
	}
	return nil
}

// textTimescale is the timescale of text tracks: WebVTT times are whole
// milliseconds (W3C WebVTT §4.2.1).
const textTimescale = 1000

// textJob packages one subtitle track: from a sidecar WebVTT file or a
// timed text (tx3g) track of an input.
type textJob struct {
	name   string // directory and track ID
	source string // for messages: the file, and the track for tx3g
	lang   string
	label  string
	vtt    *webvtt.File // header blocks and cues
	// segments are filled by write.
	segments []manifest.Segment
}

// loadTexts reads the text tracks of the opened inputs and the sidecar
// files into jobs, not yet named.
func loadTexts(files []*media.File, sidecars []TextInput, read func(string) ([]byte, error)) ([]*textJob, error) {
	var jobs []*textJob
	for _, f := range files {
		for _, t := range f.TextTracks() {
			cues, err := f.TextCues(t)
			if err != nil {
				return nil, err
			}
			lang := t.Language
			if lang == "und" {
				lang = ""
			}
			jobs = append(jobs, &textJob{source: fmt.Sprintf("%s: track %d", f.Path(), t.ID), lang: lang, vtt: &webvtt.File{Cues: cues}})
		}
	}
	for _, in := range sidecars {
		data, err := read(in.Path)
		if err != nil {
			return nil, err
		}
		vtt, err := webvtt.Parse(in.Path, data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMedia, err)
		}
		// A source's own timestamp map is for its own HLS use; the
		// segments get a new one (see vttSegment).
		vtt.Header = slices.DeleteFunc(vtt.Header, func(h string) bool { return strings.HasPrefix(h, "X-TIMESTAMP-MAP") })
		jobs = append(jobs, &textJob{source: in.Path, lang: in.Language, label: in.Name, vtt: vtt})
	}
	for _, j := range jobs {
		if j.label == "" {
			j.label = j.lang
		}
		if j.label == "" {
			j.label = "Subtitles"
		}
	}
	return jobs, nil
}

// nameTexts gives every text job a directory name text[_<lang>], with a
// numeric suffix when names collide (also with used, the A/V names).
func nameTexts(jobs []*textJob, used map[string]bool) {
	count := map[string]int{}
	for _, j := range jobs {
		base := "text"
		if j.lang != "" {
			base += "_" + strings.ToLower(j.lang)
		}
		n := base
		for used[n] {
			count[base]++
			n = fmt.Sprintf("%s_%d", base, count[base]+1)
		}
		used[n] = true
		j.name = n
	}
}

// textBounds returns the segment boundaries of the text tracks in
// milliseconds: the reference track's segment starts (so that text
// segments line up with video, CMAF §7.3.3 aligned switching sets are not
// needed across media types but players fetch by time) and the end of the
// presentation. Boundaries are rounded to the nearest millisecond.
func textBounds(pl *plan, end time.Duration) []int64 {
	toMS := func(d time.Duration) int64 { return int64((d + time.Millisecond/2) / time.Millisecond) }
	var b []int64
	for _, s := range pl.spans[pl.ref] {
		ms := toMS(ticksToDuration(int64(s.start), pl.ref.Timescale))
		if len(b) == 0 || ms > b[len(b)-1] {
			b = append(b, ms)
		}
	}
	if len(b) == 0 || b[0] != 0 {
		b = append([]int64{0}, b...)
	}
	if e := toMS(end); e > b[len(b)-1] {
		b = append(b, e)
	} else if len(b) > 1 {
		b[len(b)-1] = max(e, b[len(b)-2]+1)
	}
	return b
}

// write writes the CMAF text track (init.mp4 and seg_N.m4s, ISO/IEC
// 14496-30 §7) and the segmented WebVTT files (seg_N.vtt, RFC 8216 §3.5)
// into dir of out, one segment per interval of bounds. It returns a
// warning when cues lie past the end of the presentation.
func (j *textJob) write(ctx context.Context, out storage.Output, dir string, bounds []int64) (warning string, err error) {
	init, err := textInit(j.lang, j.vtt.Config(), j.name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", j.source, err)
	}
	if err := out.Write(ctx, path.Join(dir, "init.mp4"), init); err != nil {
		return "", err
	}
	end := bounds[len(bounds)-1]
	late := 0
	for _, c := range j.vtt.Cues {
		if c.Start.Milliseconds() >= end {
			late++
		}
	}
	if late > 0 {
		warning = fmt.Sprintf("%s: %d cue(s) start after the end of the presentation (%s) and are left out", j.source, late, webvtt.FormatTimestamp(time.Duration(end)*time.Millisecond))
	}
	var hdr []byte
	fi := fragmentInfo{trackID: 1}
	for k := 0; k+1 < len(bounds); k++ {
		a, b := bounds[k], bounds[k+1]
		durs, data := textSamples(j.vtt.Cues, a, b)
		fi.seq = uint32(k + 1)
		fi.baseDTS = uint64(a)
		fi.durations, fi.sizes, fi.ctos, fi.syncs = fi.durations[:0], fi.sizes[:0], fi.ctos[:0], fi.syncs[:0]
		for i, d := range durs {
			fi.durations = append(fi.durations, d)
			fi.sizes = append(fi.sizes, uint32(len(data[i])))
			fi.ctos = append(fi.ctos, 0)
			fi.syncs = append(fi.syncs, true)
		}
		payload := bytes.Join(data, nil)
		hdr = appendFragmentHeader(hdr[:0], &fi, len(payload))
		if err := out.Write(ctx, path.Join(dir, segmentFile(k+1)), hdr, payload); err != nil {
			return "", err
		}
		if err := out.Write(ctx, path.Join(dir, vttSegmentFile(k+1)), j.vttSegment(a, b)); err != nil {
			return "", err
		}
		j.segments = append(j.segments, manifest.Segment{Number: k + 1, Start: uint64(a), Duration: uint64(b - a), Size: int64(len(hdr) + len(payload))})
	}
	return warning, nil
}

func vttSegmentFile(n int) string { return fmt.Sprintf("seg_%d.vtt", n) }

// vttSegment is one segmented WebVTT file (RFC 8216 §3.5) holding every
// cue that overlaps [a, b) ms with its full times: a cue that spans a
// segment boundary is repeated in each segment, and players drop the
// repeat. X-TIMESTAMP-MAP maps cue time 0 to media time 0: the CMAF
// segments' presentation timeline starts at 0 (see presentationZero).
func (j *textJob) vttSegment(a, b int64) []byte {
	seg := webvtt.File{
		Header:  append([]string{"X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"}, j.vtt.Header...),
		Styles:  j.vtt.Styles,
		Regions: j.vtt.Regions,
	}
	for _, c := range j.vtt.Cues {
		if c.Start.Milliseconds() < b && c.End.Milliseconds() > a {
			seg.Cues = append(seg.Cues, c)
		}
	}
	return seg.Marshal()
}

// textSamples cuts [a, b) ms into samples at every cue start and end
// (ISO/IEC 14496-30 §7.4, §7.6): each sample holds the cues active over
// its whole duration as vttc boxes, or one vtte box when none is, so that
// the samples cover the interval without gaps. Overlapping cues thus
// share samples, and a cue longer than one sample is repeated in each.
func textSamples(cues []webvtt.Cue, a, b int64) (durs []uint32, data [][]byte) {
	points := []int64{a, b}
	for _, c := range cues {
		for _, p := range []int64{c.Start.Milliseconds(), c.End.Milliseconds()} {
			if p > a && p < b {
				points = append(points, p)
			}
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	for i := 0; i+1 < len(points); i++ {
		p, q := points[i], points[i+1]
		var w boxWriter
		for _, c := range cues {
			if c.Start.Milliseconds() <= p && c.End.Milliseconds() >= q {
				appendVttc(&w, c)
			}
		}
		if len(w.b) == 0 {
			w.open("vtte") // VTTEmptyCueBox
			w.close()
		}
		durs = append(durs, uint32(q-p))
		data = append(data, w.b)
	}
	return durs, data
}

// appendVttc writes a VTTCueBox (ISO/IEC 14496-30 §7.4): iden with the cue
// identifier, sttg with the settings, payl with the cue text, in that order.
func appendVttc(w *boxWriter, c webvtt.Cue) {
	w.open("vttc")
	for _, b := range []struct{ typ, s string }{{"iden", c.ID}, {"sttg", c.Settings}, {"payl", c.Text}} {
		if b.s == "" && b.typ != "payl" {
			continue
		}
		w.open(b.typ)
		w.str(b.s)
		w.close()
	}
	w.close()
}

// textInit writes the CMAF header of a WebVTT track (ISO/IEC 14496-30 §7.5,
// ISO/IEC 23000-19 §11.3): handler "text", null media header, and a wvtt
// sample entry whose vttC holds the WebVTT file header and whose vlab
// (WebVTTSourceLabelBox) names the source; Shaka Packager refuses a wvtt
// entry without vlab, which the standard recommends. The language goes
// in mdhd when it is a three-letter code, else in elng (ISO/IEC 14496-12
// §8.4.6).
func textInit(lang, config, label string) ([]byte, error) {
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("cmf2", 0, []string{"cmf2", "cmfc", "iso6", "isom", "mp41", "dash"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = textTimescale
	mvhd.NextTrackID = 2
	moov.AddChild(mvhd)
	if lang == "" {
		lang = "und"
	}
	trak := mp4.CreateEmptyTrak(1, textTimescale, "wvtt", lang)
	moov.AddChild(trak)
	mvex := mp4.NewMvexBox()
	mvex.AddChild(mp4.CreateTrex(1))
	moov.AddChild(mvex)
	entry := mp4.NewWvttBox()
	entry.AddChild(&mp4.VttCBox{Config: config})
	entry.AddChild(&mp4.VlabBox{SourceLabel: label})
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		return nil, fmt.Errorf("encode text init segment: %w", err)
	}
	return buf.Bytes(), nil
}

// manifestTrack describes the text track for the manifests.
func (j *textJob) manifestTrack() manifest.Track {
	mt := manifest.Track{
		ID: j.name, Dir: j.name, Type: manifest.Text, Codecs: "wvtt",
		Language: j.lang, Label: j.label, Timescale: textTimescale,
		InitFile: "init.mp4", MediaPattern: "seg_$Number$.m4s", WebVTTPattern: "seg_$Number$.vtt", StartNumber: 1,
		Segments: j.segments,
	}
	mt.Bandwidth, mt.AverageBandwidth = bandwidths(j.segments, textTimescale)
	mt.Bandwidth = max(mt.Bandwidth, 1)
	return mt
}
