// Package dash writes the static MPEG-DASH MPD (ISO/IEC 23009-1) of a packaged
// presentation: one Period, CMAF tracks addressed with SegmentTemplate and
// SegmentTimeline, and Common Encryption signaling for Widevine, PlayReady and
// ClearKey as the DASH-IF IOP content protection guidelines describe it.
// FairPlay is an HLS-only system and is never written here.
package dash

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/Eyevinn/dash-mpd/xml"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// Profiles is the MPD@profiles value: the ISO live profile (SegmentTemplate
// addressing, ISO/IEC 23009-1 §8.4) and the CMAF profile (§8.12).
const Profiles = mpd.PROFILE_LIVE + "," + mpd.PROFILE_CMAF

// Options tunes Marshal. The zero value is the recommended configuration.
type Options struct {
	// MinBufferTime is MPD@minBufferTime in seconds. Zero means the longest
	// segment duration of the presentation, which is what the measured peak
	// bandwidths (maximum over single segments) are consistent with
	// (ISO/IEC 23009-1 §5.3.5.2).
	MinBufferTime float64
	// Live, when set, makes the MPD dynamic: a live presentation whose
	// SegmentTimeline is a sliding window (ISO/IEC 23009-1 §5.4).
	Live *Live
}

// Live is what a dynamic MPD adds (ISO/IEC 23009-1 §5.3.1.2 Table 3,
// §5.8.4.11; DASH-IF IOP timing model): segment times count from
// AvailabilityStartTime, players re-read the MPD every MinimumUpdatePeriod
// and may seek back TimeShiftBufferDepth from the live edge; UTCTimingURL is
// the clock players synchronise with ("A dynamic MPD SHALL include at least
// one UTCTiming element", DASH-IF IOP Timing Model).
type Live struct {
	AvailabilityStartTime time.Time
	PublishTime           time.Time
	MinimumUpdatePeriod   time.Duration
	TimeShiftBufferDepth  time.Duration
	// UTCTimingURL answers with an ISO 8601 date-time
	// (urn:mpeg:dash:utc:http-iso:2014).
	UTCTimingURL string
	// SuggestedPresentationDelay, when not 0, is how far behind the live
	// edge players should present (ISO/IEC 23009-1 §5.3.1.2 Table 3
	// MPD@suggestedPresentationDelay): a segment is announced as available
	// when it ends, but a live packager can only publish it once the
	// encoder has sent it, so a player at the very edge runs dry.
	SuggestedPresentationDelay time.Duration
}

// UTCTimingHTTPISO is the UTCTiming scheme of a server answering an ISO
// 8601 date-time (ISO/IEC 23009-1 Table 32).
const UTCTimingHTTPISO = "urn:mpeg:dash:utc:http-iso:2014"

// dateTime formats t as an xs:dateTime in UTC with milliseconds.
func dateTime(t time.Time) mpd.DateTime {
	return mpd.DateTime(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// Marshal returns a static MPD describing p. The MPD is written with two-space
// indentation and an XML declaration. Tracks are grouped into AdaptationSets
// by (content type, protection scheme and KID, codec family, language), so
// every Representation of an AdaptationSet shares one content key (DASH-IF
// IOP Security "Every Representation in an AdaptationSet SHALL use the same
// content key"). Video AdaptationSets come first, then audio, then text
// (one AdaptationSet per text track, see textSetAttributes), each in the
// order the tracks appear in p.
func Marshal(p manifest.Presentation, opt Options) ([]byte, error) {
	if err := manifest.ValidateTracks(p.Tracks, ErrInvalidPresentation, validateTrack); err != nil {
		return nil, err
	}

	var ns namespaces
	var periods []*mpd.Period
	if idx := p.KeyPeriodIndexes(); len(idx) > 0 {
		var err error
		if periods, err = keyPeriods(p.Tracks, idx, opt.Live != nil, &ns); err != nil {
			return nil, err
		}
	} else {
		period, err := buildPeriod(p.Tracks, "0", 0, &ns)
		if err != nil {
			return nil, err
		}
		periods = []*mpd.Period{period}
	}

	dur := p.Duration
	if dur <= 0 || math.IsNaN(dur) || math.IsInf(dur, 0) {
		dur = longestTrack(p.Tracks)
	}
	minBuf := opt.MinBufferTime
	if minBuf <= 0 || math.IsNaN(minBuf) || math.IsInf(minBuf, 0) {
		minBuf = longestSegment(p.Tracks)
	}
	m := &mpd.MPD{
		XMLNs:                     mpd.DASH_NAMESPACE,
		Profiles:                  mpd.ListOfProfilesType(Profiles),
		Type:                      mpd.Ptr(mpd.STATIC_TYPE),
		MediaPresentationDuration: mpd.Seconds2DurPtrFloat64(dur),
		MinBufferTime:             ceilMillis(minBuf),
		Periods:                   periods,
	}
	if l := opt.Live; l != nil {
		m.Type = mpd.Ptr(mpd.DYNAMIC_TYPE)
		m.MediaPresentationDuration = nil
		m.AvailabilityStartTime = dateTime(l.AvailabilityStartTime)
		m.PublishTime = dateTime(l.PublishTime)
		m.MinimumUpdatePeriod = mpd.Seconds2DurPtrFloat64(l.MinimumUpdatePeriod.Seconds())
		m.TimeShiftBufferDepth = mpd.Seconds2DurPtrFloat64(l.TimeShiftBufferDepth.Seconds())
		m.UTCTimings = []*mpd.DescriptorType{{SchemeIdUri: UTCTimingHTTPISO, Value: l.UTCTimingURL}}
		if l.SuggestedPresentationDelay > 0 {
			m.SuggestedPresentationDelay = mpd.Seconds2DurPtrFloat64(l.SuggestedPresentationDelay.Seconds())
		}
	}

	// Namespaces are declared once, on the MPD root, and only when used.
	root := mpdRoot{DefaultNS: mpd.DASH_NAMESPACE, MPD: m}
	m.XMLNs = ""
	if ns.cenc {
		root.NSCENC = signaling.NamespaceCENC
	}
	if ns.mspr {
		root.NSMSPR = signaling.NamespaceMSPR
	}
	if ns.dashif {
		root.NSDASHIF = signaling.NamespaceDASHIF
	}
	if ns.clearKeyLegacy {
		root.NSClearKey = signaling.NamespaceClearKey
	}
	var buf bytes.Buffer
	if _, err := mpd.WriteXML(&root, &buf, "  ", true); err != nil {
		return nil, fmt.Errorf("dash: encode MPD: %w", err)
	}
	buf.WriteByte('\n')
	out := buf.Bytes()
	if ns.clearKeyLegacy {
		out = addLegacyClearKeyLaurl(out)
	}
	return out, nil
}

// buildPeriod returns a Period holding tracks, grouped into AdaptationSets.
func buildPeriod(tracks []manifest.Track, id string, start float64, ns *namespaces) (*mpd.Period, error) {
	period := &mpd.Period{Id: id, Start: mpd.Seconds2DurPtrFloat64(start)}
	var asID uint32
	var videoSets []videoSet
	for _, typ := range []manifest.ContentType{manifest.Video, manifest.Audio, manifest.Text} {
		for _, g := range groupTracks(tracks, typ) {
			as, err := adaptationSet(g, asID, ns)
			if err != nil {
				return nil, err
			}
			period.AdaptationSets = append(period.AdaptationSets, as)
			if typ == manifest.Video {
				videoSets = append(videoSets, videoSet{as, codecFamily(g[0].Codecs)})
			}
			asID++
		}
	}
	linkSwitchableSets(videoSets)
	return period, nil
}

// keyPeriods returns one Period per key period (key rotation, DASH-IF IOP
// Part 6 §9.2: keys change at Period boundaries, where the init segment and
// so cenc:default_KID change). Period@id is the key period index, stable
// across runs; every Period carries the same DRM descriptors, each with the
// period's KID (shaka-player stops at a Period whose set of
// ContentProtection schemes differs).
//
// Period@start is the earliest start of the period's first segments over
// all tracks, and each keyed track's presentationTimeOffset is the start
// of its own first segment in the period, so that every AdaptationSet's
// first segment is presented at Period@start (ISO/IEC 23009-1 §5.3.9.2: a
// segment is presented at Period@start + (t - presentationTimeOffset) /
// timescale). Tracks are cut at the same boundary but audio only on its
// frame boundaries, so its period starts up to one frame later than the
// video's (4.0107 s for 4 s with 1024-sample AAC frames at 48 kHz); with
// one offset for all tracks that frame would be a gap at the start of the
// Period, which the DASH-IF timing model forbids ("a representation SHALL
// provide enough media segments to cover the entire time span of the
// period") and players stall on or skip (dash.js: "gap in the manifest").
// Within a Period audio is then presented up to one frame (about 21 ms)
// early, and the next Period realigns it; that is well inside the
// detectability threshold of sound ahead of picture (45 ms, ITU-R
// BT.1359). Clear tracks (subtitles) keep the earliest start as offset,
// and so do all tracks in the first Period of a static MPD that starts at
// media time 0.
//
// In a live MPD (live) a Period whose first segments left the window keeps
// the offsets and start it had when it was first published, if the tracks'
// KeyPeriod.Start says where they began: the mapping of a published
// segment to the MPD timeline never changes between MPD updates. A static
// MPD starts at its first listed segments (see Marshal).
func keyPeriods(tracks []manifest.Track, idx []int, live bool, ns *namespaces) ([]*mpd.Period, error) {
	// The keyed tracks' views of each key period, where each starts, and
	// where the period starts.
	type period struct {
		k          int
		views      []manifest.Track
		starts     []uint64 // each view's first presentation time
		startTicks uint64
		startTS    uint32
	}
	earlier := func(ticks uint64, ts uint32, p period) bool {
		return p.startTS == 0 || ticks*uint64(p.startTS) < p.startTicks*uint64(ts)
	}
	var ps []period
	for _, k := range idx {
		p := period{k: k}
		for _, t := range tracks {
			v, ok := t.InKeyPeriod(k)
			if !ok {
				continue
			}
			s := v.Segments[0].Start
			if kp, ok := t.KeyPeriod(k); live && ok && kp.Start != nil && *kp.Start <= s {
				s = *kp.Start
			}
			if earlier(s, v.Timescale, p) {
				p.startTicks, p.startTS = s, v.Timescale
			}
			p.views = append(p.views, v)
			p.starts = append(p.starts, s)
		}
		if len(p.views) == 0 {
			continue
		}
		ps = append(ps, p)
	}
	// Clear tracks (subtitles) are not rotated: each Period carries the
	// segments that start within it, offset from the Period's start.
	for i := range ps {
		for _, t := range tracks {
			if len(t.KeyPeriods) > 0 {
				continue
			}
			v := t
			v.Segments = nil
			for _, seg := range t.Segments {
				atOrAfter := seg.Start*uint64(ps[i].startTS) >= ps[i].startTicks*uint64(t.Timescale)
				before := i+1 == len(ps) || seg.Start*uint64(ps[i+1].startTS) < ps[i+1].startTicks*uint64(t.Timescale)
				if atOrAfter && before {
					v.Segments = append(v.Segments, seg)
				}
			}
			if len(v.Segments) > 0 {
				v.StartNumber = v.Segments[0].Number
				hi, lo := bits.Mul64(ps[i].startTicks, uint64(t.Timescale))
				q, _ := bits.Div64(hi%uint64(ps[i].startTS), lo, uint64(ps[i].startTS))
				ps[i].views = append(ps[i].views, v)
				ps[i].starts = append(ps[i].starts, q)
			}
		}
	}
	// A static MPD's first Period starts at 0 (DASH-IF timing model, "the
	// first period SHALL start at the zero point of the MPD timeline"): the
	// MPD timeline starts at the first Period's media, which need not be at
	// media time 0 (the last window of an ended live channel). The offsets
	// stay those media times, so the first segments are presented at 0 and
	// not after a gap (ISO/IEC 23009-1 §5.3.9.2).
	var origin float64
	if !live && len(ps) > 0 {
		origin = float64(ps[0].startTicks) / float64(ps[0].startTS)
		if ps[0].startTicks == 0 {
			// A presentation from media time 0 (VOD): a track that starts
			// later there does so by its edit list, not by a cut, and
			// stays where it belongs (see manifest.Track.SyncHLS).
			clear(ps[0].starts)
		}
	}
	out := make([]*mpd.Period, 0, len(ps))
	for _, p := range ps {
		for i := range p.views {
			p.views[i].PresentationTimeOffset = p.starts[i]
		}
		mp, err := buildPeriod(p.views, strconv.Itoa(p.k), float64(p.startTicks)/float64(p.startTS)-origin, ns)
		if err != nil {
			return nil, fmt.Errorf("key period %d: %w", p.k, err)
		}
		out = append(out, mp)
	}
	return out, nil
}

// mpdRoot adds namespace declarations to the MPD element. A declaration
// attribute in the xmlns namespace makes the encoder bind the prefix at the
// root, so the cenc:, mspr:, dashif: and clearkey: elements below use it
// instead of re-declaring it on every element (Namespaces in XML 1.0 §3).
type mpdRoot struct {
	XMLName    xml.Name `xml:"MPD"`
	DefaultNS  string   `xml:"xmlns,attr"`
	NSCENC     string   `xml:"http://www.w3.org/2000/xmlns/ cenc,attr,omitempty"`
	NSMSPR     string   `xml:"http://www.w3.org/2000/xmlns/ mspr,attr,omitempty"`
	NSDASHIF   string   `xml:"http://www.w3.org/2000/xmlns/ dashif,attr,omitempty"`
	NSClearKey string   `xml:"http://www.w3.org/2000/xmlns/ clearkey,attr,omitempty"`
	*mpd.MPD
}

// AdaptationSetSwitching is the scheme of the SupplementalProperty that
// lists the AdaptationSets a player may switch to seamlessly (ISO/IEC
// 23009-1 §5.3.3.5; DASH-IF IOP "Adaptation Set Switching").
const AdaptationSetSwitching = "urn:mpeg:dash:adaptation-set-switching:2016"

// videoSet is a video AdaptationSet and the codec family of its tracks.
type videoSet struct {
	as     *mpd.AdaptationSetType
	family string
}

// linkSwitchableSets gives each video AdaptationSet an adaptation-set-switching
// SupplementalProperty listing the ids of the other video AdaptationSets of
// its codec family. Renditions under different keys (SD and HD) sit in
// different AdaptationSets (one key per set), and without this property
// players treat those sets as alternatives chosen once rather than one
// ladder to adapt across. The sets are cut at the same times (the packager
// aligns every rendition with the first), which the property promises.
// Sets of another codec family are left out: switching between them needs
// a different decoder, which not every player can change mid-stream.
func linkSwitchableSets(sets []videoSet) {
	for i, s := range sets {
		var ids []string
		for j, o := range sets {
			if j != i && o.family == s.family {
				ids = append(ids, strconv.FormatUint(uint64(*o.as.Id), 10))
			}
		}
		if len(ids) == 0 {
			continue
		}
		s.as.SupplementalProperties = append(s.as.SupplementalProperties, &mpd.DescriptorType{
			SchemeIdUri: AdaptationSetSwitching,
			Value:       strings.Join(ids, ","),
		})
	}
}

// trackGroup is the tracks of one AdaptationSet.
type trackGroup []*manifest.Track

type groupKey struct {
	typ    manifest.ContentType
	key    string // scheme + KID, or "" for clear tracks
	family string
	lang   string
	id     string // text tracks: each its own AdaptationSet
}

func groupTracks(tracks []manifest.Track, typ manifest.ContentType) []trackGroup {
	var order []groupKey
	groups := map[groupKey]trackGroup{}
	for i := range tracks {
		t := &tracks[i]
		if t.Type != typ {
			continue
		}
		k := groupKey{typ: t.Type, family: codecFamily(t.Codecs), lang: t.Language}
		if t.Protection != nil {
			k.key = t.Protection.Scheme.String() + ":" + t.Protection.KID.Hex()
		}
		if t.Type == manifest.Text {
			k.id = t.ID
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t)
	}
	out := make([]trackGroup, 0, len(order))
	for _, k := range order {
		out = append(out, groups[k])
	}
	return out
}

// codecFamily maps an RFC 6381 codecs string to the family that may share an
// AdaptationSet (bitstream-switchable sample entries).
func codecFamily(codecs string) string {
	fourCC, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(codecs)), ".")
	switch fourCC {
	case "avc1", "avc3":
		return "avc"
	case "hvc1", "hev1":
		return "hevc"
	case "mp4a":
		return "aac"
	}
	return fourCC
}

func adaptationSet(g trackGroup, id uint32, ns *namespaces) (*mpd.AdaptationSetType, error) {
	first := g[0]
	as := &mpd.AdaptationSetType{Id: mpd.Ptr(id)}
	as.ContentType = mpd.RFC6838ContentTypeType(first.Type.String())
	as.SegmentAlignment = true
	as.Lang = first.Language

	if first.Protection != nil {
		for _, t := range g[1:] {
			if !sameProtection(first.Protection, t.Protection) {
				return nil, fmt.Errorf("%w: tracks %q and %q share KID %s but differ in DRM signaling",
					ErrInconsistentProtection, first.ID, t.ID, first.Protection.KID)
			}
		}
		cps, err := contentProtections(first.Protection, ns)
		if err != nil {
			return nil, fmt.Errorf("track %q: %w", first.ID, err)
		}
		as.ContentProtections = cps
	}

	for _, t := range g {
		rep, err := representation(t)
		if err != nil {
			return nil, err
		}
		as.Representations = append(as.Representations, rep)
	}

	switch first.Type {
	case manifest.Video:
		videoSetAttributes(as, g)
	case manifest.Audio:
		hoistAudioChannelConfiguration(as)
	case manifest.Text:
		textSetAttributes(as, first)
	}
	hoistSegmentTemplate(as)
	return as, nil
}

// videoSetAttributes sets the AdaptationSet summary attributes of
// ISO/IEC 23009-1 §5.3.3.2: maxWidth, maxHeight, maxFrameRate and, when all
// Representations agree (sar is always 1:1 here), par.
func videoSetAttributes(as *mpd.AdaptationSetType, g trackGroup) {
	var maxRate float64
	par := ""
	parSame := true
	for i, t := range g {
		as.MaxWidth = max(as.MaxWidth, uint32(t.Width))
		as.MaxHeight = max(as.MaxHeight, uint32(t.Height))
		if r, ok := manifest.FrameRateValue(t.FrameRate); ok && r > maxRate {
			maxRate = r
			as.MaxFrameRate = t.FrameRate
		}
		p := aspectRatio(t.Width, t.Height)
		if i == 0 {
			par = p
		} else if p != par {
			parSame = false
		}
	}
	if parSame {
		as.Par = mpd.RatioType(par)
	}
}

// MIMETypeText is the Representation@mimeType of CMAF text tracks (ISO/IEC
// 23000-19 §11.3: WebVTT in ISOBMFF segments; codecs "wvtt").
const MIMETypeText = "application/mp4"

// textSetAttributes marks a text AdaptationSet as subtitles for a language
// with a name: Role "subtitle" in the urn:mpeg:dash:role:2011 scheme and
// Label (ISO/IEC 23009-1 §5.8.5.5, §5.3.7.2). A text track is never
// encrypted; each is its own AdaptationSet so that players list each one
// under its own name.
func textSetAttributes(as *mpd.AdaptationSetType, t *manifest.Track) {
	as.SegmentAlignment = true
	as.Roles = append(as.Roles, mpd.NewRole("subtitle"))
	as.Labels = append(as.Labels, &mpd.LabelType{Value: t.Label})
}

func aspectRatio(w, h int) string {
	g := gcd(w, h)
	return strconv.Itoa(w/g) + ":" + strconv.Itoa(h/g)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// frameRateValue parses "30" or "30000/1001" (ISO/IEC 23009-1 FrameRateType).

func representation(t *manifest.Track) (*mpd.RepresentationType, error) {
	rep := &mpd.RepresentationType{Id: t.ID, Bandwidth: uint32(t.Bandwidth)}
	rep.Codecs = t.Codecs
	switch t.Type {
	case manifest.Video:
		rep.MimeType = mpd.MIME_TYPE_VIDEO_MP4
		rep.Width = uint32(t.Width)
		rep.Height = uint32(t.Height)
		rep.FrameRate = mpd.FrameRateType(t.FrameRate)
		rep.Sar = "1:1"
	case manifest.Audio:
		rep.MimeType = mpd.MIME_TYPE_AUDIO_MP4
		rep.AudioSamplingRate = mpd.Ptr(mpd.UIntVectorType(strconv.Itoa(t.SampleRate)))
		rep.AudioChannelConfigurations = []*mpd.DescriptorType{audioChannelConfiguration(t)}
	case manifest.Text:
		rep.MimeType = MIMETypeText
	}
	st, err := segmentTemplate(t)
	if err != nil {
		return nil, err
	}
	rep.SegmentTemplate = st
	return rep, nil
}

// audioChannelConfiguration describes the channel layout of t. AAC uses the
// MPEG scheme with the channel count as value (ISO/IEC 23009-1 §5.8.5.4, as
// DASH-IF IOP and Shaka Packager write it). AC-3 and E-AC-3 use the Dolby
// scheme whose value is the 16-bit channel mask of ETSI TS 102 366 §I.1.2 as
// four hex digits: L=0x8000 C=0x4000 R=0x2000 Ls=0x1000 Rs=0x0800 LFE=0x0001,
// so mono "4000", stereo "A000" and 5.1 "F801". Other Dolby layouts fall back
// to the MPEG channel count scheme.
func audioChannelConfiguration(t *manifest.Track) *mpd.DescriptorType {
	switch codecFamily(t.Codecs) {
	case "ac-3", "ec-3":
		masks := map[int]string{1: "4000", 2: "A000", 6: "F801"}
		if m, ok := masks[t.Channels]; ok {
			return mpd.NewDescriptor(mpd.AUDIO_CHANNEL_CONFIGURATION_DOLBY, m, "")
		}
	}
	return mpd.NewDescriptor(mpd.AUDIO_CHANNEL_CONFIGURATION_MPEG_DASH, strconv.Itoa(t.Channels), "")
}

// hoistAudioChannelConfiguration moves an AudioChannelConfiguration that all
// Representations share up to the AdaptationSet.
func hoistAudioChannelConfiguration(as *mpd.AdaptationSetType) {
	first := as.Representations[0].AudioChannelConfigurations
	for _, r := range as.Representations[1:] {
		if !sameDescriptors(first, r.AudioChannelConfigurations) {
			return
		}
	}
	as.AudioChannelConfigurations = first
	for _, r := range as.Representations {
		r.AudioChannelConfigurations = nil
	}
}

func sameDescriptors(a, b []*mpd.DescriptorType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].SchemeIdUri != b[i].SchemeIdUri || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// segmentTemplate addresses t's segments by $Number$ with an explicit
// SegmentTimeline (ISO/IEC 23009-1 §5.3.9.4, §5.3.9.6). Paths are relative to
// the MPD: Dir/InitFile and Dir/MediaPattern.
func segmentTemplate(t *manifest.Track) (*mpd.SegmentTemplateType, error) {
	tl, err := segmentTimeline(t.Segments)
	if err != nil {
		return nil, fmt.Errorf("track %q: %w", t.ID, err)
	}
	st := &mpd.SegmentTemplateType{
		Media:          t.Path(t.MediaPattern),
		Initialization: t.Path(t.InitFile),
	}
	st.Timescale = mpd.Ptr(t.Timescale)
	st.StartNumber = mpd.Ptr(uint32(t.StartNumber))
	if t.PresentationTimeOffset != 0 {
		st.PresentationTimeOffset = mpd.Ptr(t.PresentationTimeOffset)
	}
	st.SegmentTimeline = tl
	return st, nil
}

// hoistSegmentTemplate moves the SegmentTemplate to the AdaptationSet when
// every Representation has the same one (in practice: a single Representation).
func hoistSegmentTemplate(as *mpd.AdaptationSetType) {
	var want bytes.Buffer
	if _, err := mpd.WriteXML(as.Representations[0].SegmentTemplate, &want, "", false); err != nil {
		return
	}
	for _, r := range as.Representations[1:] {
		var got bytes.Buffer
		if _, err := mpd.WriteXML(r.SegmentTemplate, &got, "", false); err != nil || !bytes.Equal(got.Bytes(), want.Bytes()) {
			return
		}
	}
	as.SegmentTemplate = as.Representations[0].SegmentTemplate
	for _, r := range as.Representations {
		r.SegmentTemplate = nil
	}
}

func longestTrack(tracks []manifest.Track) float64 {
	var d float64
	for _, t := range tracks {
		first, last := t.Segments[0], t.Segments[len(t.Segments)-1]
		d = max(d, float64(last.Start+last.Duration-first.Start)/float64(t.Timescale))
	}
	return d
}

func longestSegment(tracks []manifest.Track) float64 {
	var d float64
	for _, t := range tracks {
		for _, s := range t.Segments {
			d = max(d, float64(s.Duration)/float64(t.Timescale))
		}
	}
	return d
}

// ceilMillis rounds seconds up to whole milliseconds (the precision the MPD
// duration type is written with), so minBufferTime never understates.
func ceilMillis(seconds float64) *mpd.Duration {
	ms := math.Ceil(seconds*1000 - 1e-6)
	return mpd.Seconds2DurPtrFloat64(ms / 1000)
}

// validateTrack adds DASH's rules to the common ones: audio needs a sample
// rate (AdaptationSet@audioSamplingRate).
func validateTrack(t *manifest.Track) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPresentation, err)
	}
	if t.Type == manifest.Audio && t.SampleRate <= 0 {
		return fmt.Errorf("%w: track %q: sample rate %d", ErrInvalidPresentation, t.ID, t.SampleRate)
	}
	return nil
}
