package dash

import (
	"bytes"
	stdxml "encoding/xml"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/manifesttest"
)

func TestMarshalGolden(t *testing.T) {
	for _, c := range manifesttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Marshal(c.P, Options{})
			if err != nil {
				t.Fatal(err)
			}
			manifesttest.Golden(t, "MPD", filepath.Join("testdata", c.Name+".mpd"), got)
		})
	}
}

// TestMarshalParseBack reads every MPD back with dash-mpd and checks it
// against the Presentation it was made from.
func TestMarshalParseBack(t *testing.T) {
	for _, c := range manifesttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			m := marshalMPD(t, c.P)
			if m.GetType() != mpd.STATIC_TYPE || string(m.Profiles) != Profiles {
				t.Errorf("type %q profiles %q", m.GetType(), m.Profiles)
			}
			if m.MediaPresentationDuration == nil || m.MinBufferTime == nil {
				t.Fatal("missing mediaPresentationDuration or minBufferTime")
			}
			// One Period, or one per key period (key rotation) whose
			// tracks are the tracks restricted to it.
			keyPeriods := c.P.KeyPeriodIndexes()
			if want := max(len(keyPeriods), 1); len(m.Periods) != want {
				t.Fatalf("%d periods, want %d", len(m.Periods), want)
			}
			seen := map[string]bool{}
			// Every Period carries the same set of DRM descriptors
			// (shaka-player stops at a Period whose set differs).
			var schemes0 []string
			for pi, period := range m.Periods {
				var schemes []string
				for _, as := range period.AdaptationSets {
					for _, cp := range as.ContentProtections {
						schemes = append(schemes, string(as.ContentType)+" "+string(cp.SchemeIdUri))
					}
				}
				if pi == 0 {
					schemes0 = schemes
				} else if strings.Join(schemes, ",") != strings.Join(schemes0, ",") {
					t.Errorf("Period %s has ContentProtection %v, Period 0 has %v", period.Id, schemes, schemes0)
				}
			}
			for pi, period := range m.Periods {
				for _, as := range period.AdaptationSets {
					var kid drm.KeyID
					for i, r := range as.Representations {
						tr := findTrack(t, c.P, r.Id)
						if len(keyPeriods) > 0 {
							if period.Id != strconv.Itoa(keyPeriods[pi]) {
								t.Errorf("Period[%d]@id %q, want the key period index %d", pi, period.Id, keyPeriods[pi])
							}
							v, ok := tr.InKeyPeriod(keyPeriods[pi])
							if !ok {
								t.Fatalf("%s: in Period %s but not in that key period", r.Id, period.Id)
							}
							// presentationTimeOffset is the start of the track's first
							// segment in the period, which is presented at Period@start.
							v.PresentationTimeOffset = v.Segments[0].Start
							tr = &v
						}
						seen[r.Id] = true
						if string(as.ContentType) != tr.Type.String() {
							t.Errorf("%s: contentType %q", r.Id, as.ContentType)
						}
						if as.Lang != tr.Language {
							t.Errorf("%s: lang %q, want %q", r.Id, as.Lang, tr.Language)
						}
						if int(r.Bandwidth) != tr.Bandwidth || r.Codecs != tr.Codecs {
							t.Errorf("%s: bandwidth %d codecs %q", r.Id, r.Bandwidth, r.Codecs)
						}
						checkTemplate(t, r, tr)
						if i == 0 && tr.Protection != nil {
							kid = tr.Protection.KID
							checkContentProtection(t, as.ContentProtections, tr.Protection)
						}
						if tr.Protection == nil && len(as.ContentProtections) > 0 {
							t.Errorf("%s: clear track under ContentProtection", r.Id)
						}
						if tr.Protection != nil && tr.Protection.KID != kid {
							t.Errorf("%s: KID %s shares an AdaptationSet with KID %s", r.Id, tr.Protection.KID, kid)
						}
						if tr.Type == manifest.Video && (r.Width != uint32(tr.Width) || r.Sar != "1:1" || string(r.FrameRate) != tr.FrameRate) {
							t.Errorf("%s: width %d sar %q frameRate %q", r.Id, r.Width, r.Sar, r.FrameRate)
						}
						if tr.Type == manifest.Audio && len(r.AudioChannelConfigurations)+len(as.AudioChannelConfigurations) != 1 {
							t.Errorf("%s: want exactly one AudioChannelConfiguration", r.Id)
						}
					}
				}
			}
			for _, tr := range c.P.Tracks {
				if !seen[tr.ID] {
					t.Errorf("track %s missing from MPD", tr.ID)
				}
			}
		})
	}
}

func findTrack(t *testing.T, p manifest.Presentation, id string) *manifest.Track {
	t.Helper()
	for i := range p.Tracks {
		if p.Tracks[i].ID == id {
			return &p.Tracks[i]
		}
	}
	t.Fatalf("representation %q has no track", id)
	return nil
}

// checkTemplate expands the Representation's SegmentTemplate and compares the
// segment times and paths with the track.
func checkTemplate(t *testing.T, r *mpd.RepresentationType, tr *manifest.Track) {
	t.Helper()
	st := r.GetSegmentTemplate()
	if st == nil || st.SegmentTimeline == nil {
		t.Fatalf("%s: no SegmentTemplate/SegmentTimeline", r.Id)
	}
	if st.GetTimescale() != tr.Timescale || st.StartNumber == nil || int(*st.StartNumber) != tr.StartNumber {
		t.Errorf("%s: timescale %d startNumber %v", r.Id, st.GetTimescale(), st.StartNumber)
	}
	var pto uint64
	if st.PresentationTimeOffset != nil {
		pto = *st.PresentationTimeOffset
	}
	if pto != tr.PresentationTimeOffset {
		t.Errorf("%s: presentationTimeOffset %d, want %d", r.Id, pto, tr.PresentationTimeOffset)
	}
	if init, _ := r.GetInit(); init != tr.Dir+"/"+tr.InitFile {
		t.Errorf("%s: init %q", r.Id, init)
	}
	if media, _ := r.GetMedia(); media != tr.Dir+"/"+tr.MediaPattern {
		t.Errorf("%s: media %q", r.Id, media)
	}
	starts, durs, err := expandTimeline(st.SegmentTimeline)
	if err != nil {
		t.Fatal(err)
	}
	if len(starts) != len(tr.Segments) {
		t.Fatalf("%s: timeline has %d segments, want %d", r.Id, len(starts), len(tr.Segments))
	}
	for i, s := range tr.Segments {
		if starts[i] != s.Start || durs[i] != s.Duration {
			t.Errorf("%s: segment %d at %d+%d, want %d+%d", r.Id, i, starts[i], durs[i], s.Start, s.Duration)
		}
	}
}

// checkContentProtection asserts the DASH-IF order: mp4protection with
// value=scheme and default_KID first, then one descriptor per system in
// Systems order without FairPlay.
func checkContentProtection(t *testing.T, cps []*mpd.ContentProtectionType, p *manifest.Protection) {
	t.Helper()
	if len(cps) == 0 {
		t.Fatal("no ContentProtection")
	}
	if cps[0].SchemeIdUri != signaling.SchemeMP4Protection || cps[0].Value != p.Scheme.String() {
		t.Errorf("first descriptor %q value %q", cps[0].SchemeIdUri, cps[0].Value)
	}
	kid, err := drm.ParseKeyID(cps[0].DefaultKID)
	if err != nil || kid != p.KID || cps[0].DefaultKID != strings.ToLower(cps[0].DefaultKID) || len(cps[0].DefaultKID) != 36 {
		t.Errorf("default_KID %q, want %s", cps[0].DefaultKID, p.KID)
	}
	var want []string
	for _, s := range p.Systems {
		if s.System != drm.FairPlay {
			want = append(want, s.System.SystemID().URN())
		}
	}
	var got []string
	for _, cp := range cps[1:] {
		got = append(got, string(cp.SchemeIdUri))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("DRM descriptors %v, want %v", got, want)
	}
	for i, cp := range cps[1:] {
		if cp.DefaultKID != "" && cp.DefaultKID != p.KID.String() {
			t.Errorf("%s: default_KID %q", got[i], cp.DefaultKID)
		}
		switch string(cp.SchemeIdUri) {
		case mpd.DRM_WIDEVINE:
			if cp.Pssh == nil || cp.Pssh.Value == "" {
				t.Error("widevine without cenc:pssh")
			}
		case mpd.DRM_PLAYREADY:
			if cp.Value != "MSPR 2.0" || cp.Pssh == nil || cp.MSPro == nil {
				t.Errorf("playready descriptor value %q pssh %v pro %v", cp.Value, cp.Pssh, cp.MSPro)
			}
		case mpd.DRM_CLEAR_KEY_DASHIF:
			if cp.Value != "ClearKey1.0" {
				t.Errorf("clearkey value %q", cp.Value)
			}
		}
		for _, s := range p.Systems {
			if s.System.SystemID().URN() == string(cp.SchemeIdUri) && s.LicenseURL != "" {
				if cp.LaURL == nil || string(cp.LaURL.Value) != s.LicenseURL {
					t.Errorf("%s: dashif:Laurl %v, want %q", cp.SchemeIdUri, cp.LaURL, s.LicenseURL)
				}
			}
		}
	}
}

// TestNamespaces parses the MPD with encoding/xml (not the library that wrote
// it) to check that the extension elements are in the right namespaces and
// that namespaces are declared on the root only, and only when used.
func TestNamespaces(t *testing.T) {
	type laurl struct {
		XMLName stdxml.Name
		LicType string `xml:"Lic_type,attr"`
		Value   string `xml:",chardata"`
	}
	type cp struct {
		Scheme     string  `xml:"schemeIdUri,attr"`
		DefaultKID string  `xml:"urn:mpeg:cenc:2013 default_KID,attr"`
		Pssh       string  `xml:"urn:mpeg:cenc:2013 pssh"`
		Pro        string  `xml:"urn:microsoft:playready pro"`
		Laurls     []laurl `xml:",any"`
	}
	type doc struct {
		XMLName stdxml.Name `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
		CPs     []cp        `xml:"Period>AdaptationSet>ContentProtection"`
	}
	for _, c := range manifesttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			out, err := Marshal(c.P, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var d doc
			if err := stdxml.Unmarshal(out, &d); err != nil {
				t.Fatal(err)
			}
			root, _, _ := bytes.Cut(out[bytes.Index(out, []byte("<MPD")):], []byte(">"))
			if n, m := bytes.Count(out, []byte("xmlns")), bytes.Count(root, []byte("xmlns")); n != m {
				t.Errorf("%d namespace declarations outside the MPD root", n-m)
			}
			uses := map[string]bool{}
			for _, cp := range d.CPs {
				if cp.DefaultKID != "" || cp.Pssh != "" {
					uses["cenc"] = true
				}
				if cp.Pro != "" {
					uses["mspr"] = true
				}
				var dashif, legacy string
				for _, l := range cp.Laurls {
					switch {
					case l.XMLName.Space == signaling.NamespaceDASHIF && l.XMLName.Local == "Laurl":
						dashif = l.Value
						uses["dashif"] = true
					case l.XMLName.Space == signaling.NamespaceClearKey && l.XMLName.Local == "Laurl" && l.LicType == "EME-1.0":
						legacy = l.Value
						uses["clearkey"] = true
					}
				}
				if cp.Scheme == mpd.DRM_CLEAR_KEY_DASHIF && legacy != dashif {
					t.Errorf("clearkey: legacy Laurl %q, dashif:Laurl %q", legacy, dashif)
				}
				if cp.Scheme != mpd.DRM_CLEAR_KEY_DASHIF && legacy != "" {
					t.Errorf("%s: legacy clearkey:Laurl outside ClearKey", cp.Scheme)
				}
			}
			for _, prefix := range []string{"cenc", "mspr", "dashif", "clearkey"} {
				declared := bytes.Contains(root, []byte("xmlns:"+prefix+"="))
				if declared != uses[prefix] {
					t.Errorf("xmlns:%s declared=%v used=%v", prefix, declared, uses[prefix])
				}
			}
		})
	}
}

// marshalMPD writes p as an MPD and reads it back with dash-mpd.
func marshalMPD(t *testing.T, p manifest.Presentation) *mpd.MPD {
	t.Helper()
	out, err := Marshal(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.MPDFromBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdaptationSetSwitching: video AdaptationSets under different keys
// list each other in an adaptation-set-switching SupplementalProperty
// (ISO/IEC 23009-1 §5.3.3.5), within one codec family; audio sets and a
// lone video set carry none.
func TestAdaptationSetSwitching(t *testing.T) {
	base := manifesttest.Cases()[0].P // cbcs_all_drms: 360p (SD key), 720p (HD key), audio
	if base.Tracks[0].Protection.KID == base.Tracks[1].Protection.KID {
		t.Fatal("case cbcs_all_drms must key 360p and 720p differently")
	}
	uhd := base.Tracks[1]
	uhd.ID, uhd.Dir, uhd.Width, uhd.Height = "video_2160p", "video_2160p", 3840, 2160
	prot := *uhd.Protection
	prot.KID[0] ^= 0xff
	uhd.Protection = &prot
	hevc := uhd
	hevc.ID, hevc.Dir, hevc.Codecs = "video_2160p_hevc", "video_2160p_hevc", "hvc1.1.6.L150.B0"
	ladder := base
	ladder.Tracks = append(slices.Clone(base.Tracks), uhd, hevc)

	cases := []struct {
		name string
		p    manifest.Presentation
		want map[string]string // AdaptationSet contentType/first Representation -> property value ("" = none)
	}{
		{"SD and HD keys", base, map[string]string{"video_360p": "1", "video_720p": "0", "audio_en": ""}},
		{"three keys and HEVC", ladder, map[string]string{"video_360p": "1,2", "video_720p": "0,2", "video_2160p": "0,1", "video_2160p_hevc": "", "audio_en": ""}},
		{"one video set", manifesttest.Cases()[2].P, map[string]string{"video_720p": "", "audio_en": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sets := marshalMPD(t, c.p).Periods[0].AdaptationSets
			if len(sets) != len(c.want) {
				t.Fatalf("%d AdaptationSets, want %d", len(sets), len(c.want))
			}
			for _, as := range sets {
				rep := as.Representations[0].Id
				var got []string
				for _, d := range as.SupplementalProperties {
					if d.SchemeIdUri == AdaptationSetSwitching {
						got = append(got, d.Value)
					}
				}
				want, ok := c.want[rep]
				switch {
				case !ok:
					t.Errorf("unexpected AdaptationSet %d (%s)", *as.Id, rep)
				case want == "" && len(got) > 0:
					t.Errorf("AdaptationSet %d (%s): switching property %q, want none", *as.Id, rep, got)
				case want != "" && !slices.Equal(got, []string{want}):
					t.Errorf("AdaptationSet %d (%s): switching property %q, want %q", *as.Id, rep, got, want)
				}
			}
		})
	}
}

func TestAudioChannelConfiguration(t *testing.T) {
	cases := []struct {
		codecs   string
		channels int
		scheme   string
		value    string
	}{
		{"mp4a.40.2", 2, mpd.AUDIO_CHANNEL_CONFIGURATION_MPEG_DASH, "2"},
		{"mp4a.40.2", 6, mpd.AUDIO_CHANNEL_CONFIGURATION_MPEG_DASH, "6"},
		{"ac-3", 2, mpd.AUDIO_CHANNEL_CONFIGURATION_DOLBY, "A000"},
		{"ec-3", 6, mpd.AUDIO_CHANNEL_CONFIGURATION_DOLBY, "F801"},
		{"ec-3", 1, mpd.AUDIO_CHANNEL_CONFIGURATION_DOLBY, "4000"},
		{"ec-3", 3, mpd.AUDIO_CHANNEL_CONFIGURATION_MPEG_DASH, "3"},
	}
	for _, c := range cases {
		d := audioChannelConfiguration(&manifest.Track{Codecs: c.codecs, Channels: c.channels})
		if string(d.SchemeIdUri) != c.scheme || d.Value != c.value {
			t.Errorf("%s/%d: %s %q", c.codecs, c.channels, d.SchemeIdUri, d.Value)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	cases := append(manifesttest.CommonErrorCases(ErrInvalidPresentation, ErrMissingSignaling), []manifesttest.ErrorCase{
		{Name: "no segments", Mutate: func(p *manifest.Presentation) { p.Tracks[0].Segments = nil }, Want: ErrInvalidPresentation},
		{Name: "no $Number$", Mutate: func(p *manifest.Presentation) { p.Tracks[0].MediaPattern = "seg.m4s" }, Want: ErrInvalidPresentation},
		{Name: "zero duration", Mutate: func(p *manifest.Presentation) { p.Tracks[0].Segments[1].Duration = 0 }, Want: ErrInvalidPresentation},
		{Name: "bad frame rate", Mutate: func(p *manifest.Presentation) { p.Tracks[0].FrameRate = "fast" }, Want: ErrInvalidPresentation},
		{Name: "no channels", Mutate: func(p *manifest.Presentation) { p.Tracks[2].Channels = 0 }, Want: ErrInvalidPresentation},
		{Name: "same KID different pssh", Mutate: func(p *manifest.Presentation) {
			p.Tracks[0].Protection.KID = p.Tracks[1].Protection.KID
		}, Want: ErrInconsistentProtection},
	}...)
	manifesttest.CheckErrors(t, func(p manifest.Presentation) error {
		_, err := Marshal(p, Options{})
		return err
	}, cases)
}

// TestKeyRotationKeepsClearTracks: under key rotation a clear track (a
// subtitle track is never encrypted) appears in every Period with the
// segments that start within it, so no subtitle is lost at a boundary.
func TestKeyRotationKeepsClearTracks(t *testing.T) {
	p := manifesttest.Named(t, "key_rotation")
	var text manifest.Track
	for _, tr := range manifesttest.Named(t, "subtitles").Tracks {
		if tr.Type == manifest.Text && text.ID == "" {
			text = tr
		}
	}
	if text.ID == "" {
		t.Fatal("the subtitles case has no text track")
	}
	p.Tracks = append(p.Tracks, text)
	m := marshalParse(t, p)
	if len(m.Periods) < 2 {
		t.Fatalf("%d Periods, want one per key period", len(m.Periods))
	}
	total := 0
	for i, per := range m.Periods {
		found := false
		for _, as := range per.AdaptationSets {
			if as.ContentType == "text" {
				found = true
				for _, s := range as.SegmentTemplate.SegmentTimeline.S {
					total += 1 + s.R
				}
			}
		}
		if !found {
			t.Errorf("Period %d (%s) has no text AdaptationSet", i, per.Id)
		}
	}
	if total != len(text.Segments) {
		t.Errorf("the Periods list %d text segments, the track has %d", total, len(text.Segments))
	}
}

// TestInBandProtection: under in-band key rotation (DASH-IF IOP Part 6
// §9.3) the MPD keeps every DRM descriptor but no cenc:default_KID, pssh or
// PlayReady Object, and keeps license URLs.
func TestInBandProtection(t *testing.T) {
	p := manifesttest.Named(t, "key_rotation")
	for i := range p.Tracks {
		tr := &p.Tracks[i]
		prot := *tr.Protection
		prot.InBand = true
		tr.Protection, tr.KeyPeriods = &prot, nil
	}
	m := marshalParse(t, p)
	if len(m.Periods) != 1 {
		t.Fatalf("%d Periods, want one", len(m.Periods))
	}
	for _, as := range m.Periods[0].AdaptationSets {
		if len(as.ContentProtections) < 2 {
			t.Errorf("AdaptationSet %d: %d ContentProtection descriptors", *as.Id, len(as.ContentProtections))
		}
		for _, cp := range as.ContentProtections {
			if cp.DefaultKID != "" || cp.Pssh != nil || cp.MSPro != nil {
				t.Errorf("AdaptationSet %d: %s carries default_KID %q, pssh %v or mspr:pro %v", *as.Id, cp.SchemeIdUri, cp.DefaultKID, cp.Pssh != nil, cp.MSPro != nil)
			}
		}
	}
}

// marshalParse marshals p with the default options and parses the MPD back.
func marshalParse(t *testing.T, p manifest.Presentation) *mpd.MPD {
	t.Helper()
	b, err := Marshal(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.ReadFromString(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
