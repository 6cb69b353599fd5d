package hls

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/signaling"
	"github.com/drmpipe/drmpipe/internal/manifest"
	"github.com/drmpipe/drmpipe/internal/manifest/manifesttest"
)

func TestMarshalGolden(t *testing.T) {
	for _, c := range manifesttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			pls, err := Marshal(c.P)
			if err != nil {
				t.Fatal(err)
			}
			if len(pls) != 1+len(c.P.Tracks) || pls[0].Path != "master.m3u8" {
				t.Fatalf("got %d playlists, first %q", len(pls), pls[0].Path)
			}
			for _, pl := range pls {
				manifesttest.Golden(t, pl.Path, filepath.Join("testdata", c.Name, filepath.FromSlash(pl.Path)), pl.Data)
			}
		})
	}
}

// wantKeys returns how many EXT-X-KEY tags and which METHOD a track needs.
func wantKeys(p *manifest.Protection) (int, string) {
	if p == nil {
		return 0, ""
	}
	n := 0
	for _, s := range p.Systems {
		switch {
		case s.System == drm.FairPlay && p.Scheme != cenc.CBCS:
		default:
			n++
		}
	}
	if p.Scheme == cenc.CBCS {
		return n, "SAMPLE-AES"
	}
	return n, "SAMPLE-AES-CTR"
}

// decodePlaylist fails the test on a marshal error, then reads data back
// with hls-m3u8 (strict) and checks that it is a playlist of type want.
func decodePlaylist(t *testing.T, data []byte, marshalErr error, want m3u8.ListType) m3u8.Playlist {
	t.Helper()
	if marshalErr != nil {
		t.Fatal(marshalErr)
	}
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(data), true)
	if err != nil || typ != want {
		t.Fatalf("decode: %v (type %v)", err, typ)
	}
	return pl
}

// TestMediaParseBack reads each media playlist back with hls-m3u8 (strict)
// and checks it against the track.
func TestMediaParseBack(t *testing.T) {
	for _, c := range manifesttest.Cases() {
		for _, tr := range c.P.Tracks {
			t.Run(c.Name+"/"+tr.ID, func(t *testing.T) {
				data, err := MarshalMedia(tr)
				mp := decodePlaylist(t, data, err, m3u8.MEDIA).(*m3u8.MediaPlaylist)
				if mp.Version() != Version || mp.MediaType != m3u8.VOD || !mp.Closed {
					t.Errorf("version %d type %v closed %v", mp.Version(), mp.MediaType, mp.Closed)
				}
				pattern := tr.MediaPattern
				if tr.Type == manifest.Text {
					// Segmented WebVTT: no EXT-X-MAP (RFC 8216 §3.5).
					pattern = tr.WebVTTPattern
					if mp.Map != nil {
						t.Errorf("text playlist has EXT-X-MAP %+v", mp.Map)
					}
				} else if mp.Map == nil || mp.Map.URI != tr.InitFile {
					t.Errorf("EXT-X-MAP %+v", mp.Map)
				}
				if mp.SeqNo != uint64(tr.StartNumber) {
					t.Errorf("media sequence %d", mp.SeqNo)
				}
				segs := mp.GetAllSegments()
				if len(segs) != len(tr.Segments) {
					t.Fatalf("%d segments, want %d", len(segs), len(tr.Segments))
				}
				nKeys, wantMethod := wantKeys(tr.Protection)
				// Under key rotation each key period starts with its init
				// segment (EXT-X-MAP) and its own key tags.
				periodAt := map[int]manifest.KeyPeriod{}
				for _, kp := range tr.KeyPeriods[min(1, len(tr.KeyPeriods)):] {
					periodAt[kp.FirstSegment] = kp
				}
				var sum float64
				totalKeys := 0
				for i, s := range segs {
					sum += s.Duration
					if math.Round(s.Duration) > float64(mp.TargetDuration) {
						t.Errorf("segment %d: EXTINF %v rounds above target %d", i, s.Duration, mp.TargetDuration)
					}
					if want := strings.ReplaceAll(pattern, "$Number$", strconv.Itoa(tr.Segments[i].Number)); s.URI != want {
						t.Errorf("segment %d URI %q, want %q", i, s.URI, want)
					}
					totalKeys += len(s.Keys)
					firstEncrypted := tr.Protection != nil && !tr.Segments[i].Clear && (i == 0 || tr.Segments[i-1].Clear)
					kp, periodStart := periodAt[tr.Segments[i].Number]
					if periodStart {
						if s.Map == nil || s.Map.URI != kp.InitFile {
							t.Errorf("segment %d starts key period %d: EXT-X-MAP %+v, want %s", i, kp.Index, s.Map, kp.InitFile)
						}
						firstEncrypted = true
					} else if i > 0 && s.Map != nil {
						t.Errorf("segment %d: EXT-X-MAP %s inside a key period", i, s.Map.URI)
					}
					if firstEncrypted && len(s.Keys) > 0 && periodStart {
						found := false
						for _, k := range s.Keys {
							found = found || k.URI == "skd://"+kp.Protection.KID.Hex()
						}
						if !found {
							t.Errorf("segment %d: key period %d keys have no FairPlay URI with its KID %s", i, kp.Index, kp.Protection.KID.Hex())
						}
					}
					if firstEncrypted != (len(s.Keys) > 0) {
						t.Errorf("segment %d (clear=%v): %d key tags", i, tr.Segments[i].Clear, len(s.Keys))
					}
					// The switch from the clear lead to encrypted segments is a
					// discontinuity (hls.js stalls there without one).
					// A key period boundary is not: the timeline runs on.
					if want := firstEncrypted && i > 0 && !periodStart; s.Discontinuity != want {
						t.Errorf("segment %d (clear=%v): discontinuity %v, want %v", i, tr.Segments[i].Clear, s.Discontinuity, want)
					}
					if firstEncrypted && len(s.Keys) != nKeys {
						t.Errorf("segment %d: %d key tags, want %d", i, len(s.Keys), nKeys)
					}
					for _, k := range s.Keys {
						if k.Method != wantMethod || k.Keyformatversions != "1" || k.IV != "" {
							t.Errorf("key %+v: want METHOD=%s, KEYFORMATVERSIONS=1, no IV", k, wantMethod)
						}
					}
				}
				if len(periodAt) > 0 {
					nKeys *= len(periodAt) + 1
				}
				if totalKeys != nKeys {
					t.Errorf("%d key tags in the playlist, want %d", totalKeys, nKeys)
				}
				first, last := tr.Segments[0], tr.Segments[len(tr.Segments)-1]
				dur := float64(last.Start+last.Duration-first.Start) / float64(tr.Timescale)
				if math.Abs(sum-dur) > 0.001 {
					t.Errorf("EXTINF sum %.6f, media duration %.6f", sum, dur)
				}
			})
		}
	}
}

// TestKeyOrder checks the exact tag order and attributes of the key tags.
func TestKeyOrder(t *testing.T) {
	p := manifesttest.Cases()[0].P.Tracks[1] // cbcs, all four systems, license URLs
	keys, err := keyAttributes(p.Protection)
	if err != nil {
		t.Fatal(err)
	}
	wantFormats := []string{signaling.KeyFormatFairPlay, drm.Widevine.SystemID().URN(), signaling.KeyFormatPlayReady, signaling.KeyFormatClearKey}
	if len(keys) != len(wantFormats) {
		t.Fatalf("%d key tags, want %d", len(keys), len(wantFormats))
	}
	kidHex := "0x" + strings.ToUpper(p.Protection.KID.Hex())
	for i, k := range keys {
		if !strings.Contains(k, `KEYFORMAT="`+wantFormats[i]+`"`) {
			t.Errorf("tag %d: %s, want KEYFORMAT %s", i, k, wantFormats[i])
		}
		// KEYID on Widevine and ClearKey; not on FairPlay or PlayReady.
		wantKeyID := i == 1 || i == 3
		if hasKeyID := strings.Contains(k, ",KEYID="+kidHex+","); hasKeyID != wantKeyID {
			t.Errorf("tag %d: KEYID present=%v, want %v: %s", i, hasKeyID, wantKeyID, k)
		}
		if strings.Contains(k, "IV=") {
			t.Errorf("tag %d has an IV: %s", i, k)
		}
	}
	if !strings.HasPrefix(keys[0], `METHOD=SAMPLE-AES,URI="skd://`) {
		t.Errorf("fairplay tag %s", keys[0])
	}
	// org.w3.clearkey carries the 16 KID bytes as a data URI (hls.js reads
	// the KID from there), not the license URL, which is player configuration.
	kidB64 := base64.StdEncoding.EncodeToString(p.Protection.KID[:])
	if !strings.Contains(keys[3], `URI="data:text/plain;base64,`+kidB64+`"`) {
		t.Errorf("clearkey tag %s", keys[3])
	}
	for _, k := range keys {
		// No identity key: hls.js prefers it and stalls, shaka-player reads
		// its URI as the AES key (key.go).
		if strings.Contains(k, `KEYFORMAT="identity"`) || !strings.Contains(k, "KEYFORMAT=") {
			t.Errorf("identity key tag: %s", k)
		}
	}

	// FairPlay is dropped for cenc.
	cencTrack := manifesttest.Cases()[1].P.Tracks[0]
	keys, err = keyAttributes(cencTrack.Protection)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("cenc: %d key tags, want 3", len(keys))
	}
	for _, k := range keys {
		if strings.Contains(k, signaling.KeyFormatFairPlay) || !strings.HasPrefix(k, "METHOD=SAMPLE-AES-CTR,") {
			t.Errorf("cenc tag %s", k)
		}
	}
	want := `METHOD=SAMPLE-AES-CTR,URI="data:text/plain;base64,EHfv7MCyTQKs4zweUuL7Sw==",KEYID=0x1077EFECC0B24D02ACE33C1E52E2FB4B,KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`
	if keys[2] != want {
		// base64 of kidVideo's 16 bytes (computed with `xxd -r -p | base64`).
		t.Errorf("clearkey tag:\n got %s\nwant %s", keys[2], want)
	}
}

// TestMultivariantParseBack reads the multivariant playlist back with hls-m3u8.
func TestMultivariantParseBack(t *testing.T) {
	for _, c := range manifesttest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			data, err := MarshalMultivariant(c.P)
			mv := decodePlaylist(t, data, err, m3u8.MASTER).(*m3u8.MasterPlaylist)
			var videos, audios, texts []manifest.Track
			wantSession := map[string]bool{}
			for _, tr := range c.P.Tracks {
				switch tr.Type {
				case manifest.Video:
					videos = append(videos, tr)
				case manifest.Audio:
					audios = append(audios, tr)
				case manifest.Text:
					texts = append(texts, tr)
				}
				if tr.Protection != nil {
					keys, _ := keyAttributes(tr.Protection)
					for _, k := range keys {
						wantSession[k] = true
					}
				}
			}
			if len(mv.SessionKeys) != len(wantSession) {
				t.Errorf("%d session keys, want %d", len(mv.SessionKeys), len(wantSession))
			}
			for _, k := range mv.SessionKeys {
				if k.Method != "SAMPLE-AES" && k.Method != "SAMPLE-AES-CTR" {
					t.Errorf("session key method %q", k.Method)
				}
			}
			if len(videos) == 0 {
				if len(mv.Variants) != len(audios) {
					t.Fatalf("%d variants for %d audio tracks", len(mv.Variants), len(audios))
				}
				for i, v := range mv.Variants {
					if v.URI != audios[i].Dir+"/playlist.m3u8" || v.Codecs != audios[i].Codecs || int(v.Bandwidth) != audios[i].Bandwidth {
						t.Errorf("variant %d: %+v", i, v.VariantParams)
					}
					checkSubtitles(t, v, texts)
				}
				return
			}
			groups := map[string][]manifest.Track{}
			for _, a := range audios {
				id := "audio_" + codecFamily(a.Codecs)
				groups[id] = append(groups[id], a)
			}
			if want := len(videos) * max(1, len(groups)); len(mv.Variants) != want {
				t.Fatalf("%d variants, want %d", len(mv.Variants), want)
			}
			for _, v := range mv.Variants {
				var video *manifest.Track
				for i := range videos {
					if videos[i].Dir+"/playlist.m3u8" == v.URI {
						video = &videos[i]
					}
				}
				if video == nil {
					t.Fatalf("variant URI %q is no video playlist", v.URI)
				}
				if v.Resolution != strconv.Itoa(video.Width)+"x"+strconv.Itoa(video.Height) || v.FrameRate <= 0 {
					t.Errorf("%s: resolution %q frame rate %v", v.URI, v.Resolution, v.FrameRate)
				}
				group := groups[v.Audio]
				peak := 0
				for _, a := range group {
					peak = max(peak, a.Bandwidth)
					if !strings.Contains(v.Codecs, a.Codecs) {
						t.Errorf("%s: CODECS %q lacks %q", v.URI, v.Codecs, a.Codecs)
					}
				}
				if int(v.Bandwidth) != video.Bandwidth+peak {
					t.Errorf("%s/%s: BANDWIDTH %d, want %d", v.URI, v.Audio, v.Bandwidth, video.Bandwidth+peak)
				}
				checkSubtitles(t, v, texts)
				var audioAlts []*m3u8.Alternative
				for _, alt := range v.Alternatives {
					if alt.Type == "AUDIO" {
						audioAlts = append(audioAlts, alt)
					}
				}
				if len(audioAlts) != len(group) {
					t.Errorf("%s: %d alternatives in group %q, want %d", v.URI, len(audioAlts), v.Audio, len(group))
				}
				for i, alt := range audioAlts {
					if alt.Type != "AUDIO" || alt.Default != (i == 0) || !alt.Autoselect || alt.Channels == nil ||
						alt.URI != group[i].Dir+"/playlist.m3u8" || alt.Language != group[i].Language {
						t.Errorf("%s: alternative %d: %+v", v.URI, i, alt)
					}
				}
			}
		})
	}
}

// TestEXTINFPrecision: for random segment lists the EXTINF values, as a
// player parses them, add up to the media duration within a millisecond, and
// every value is written with 3 to 6 decimals.
func TestEXTINFPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 50; iter++ {
		ts := []uint32{90000, 48000, 44100, 1000, 30000, 12800}[r.IntN(6)]
		n := 1 + r.IntN(3000)
		tr := manifest.Track{ID: "a", Dir: "a", Type: manifest.Audio, Codecs: "mp4a.40.2", Bandwidth: 1, Channels: 2,
			Timescale: ts, InitFile: "init.mp4", MediaPattern: "$Number$.m4s", StartNumber: 0}
		start := r.Uint64N(1 << 33)
		tt := start
		for i := 0; i < n; i++ {
			d := 1 + r.Uint64N(uint64(ts)*4)
			tr.Segments = append(tr.Segments, manifest.Segment{Number: i, Start: tt, Duration: d})
			tt += d
		}
		data, err := MarshalMedia(tr)
		pl := decodePlaylist(t, data, err, m3u8.MEDIA).(*m3u8.MediaPlaylist)
		var sum float64
		for _, s := range pl.GetAllSegments() {
			sum += s.Duration
		}
		if want := float64(tt-start) / float64(ts); math.Abs(sum-want) > 0.001 {
			t.Fatalf("iter %d (%d segments at %d Hz): EXTINF sum %.6f, want %.6f", iter, n, ts, sum, want)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
				v = strings.TrimSuffix(v, ",")
				_, frac, _ := strings.Cut(v, ".")
				if len(frac) < 3 || len(frac) > 6 {
					t.Fatalf("EXTINF %q", v)
				}
			}
		}
	}
}

func TestTargetDuration(t *testing.T) {
	cases := []struct {
		durs []uint64
		ts   uint32
		want uint64
	}{
		{[]uint64{180000, 45000}, 90000, 2},
		{[]uint64{180180}, 90000, 3}, // 2.002 s
		{[]uint64{1}, 90000, 1},
		{[]uint64{96256}, 48000, 3}, // 2.005 s
	}
	for _, c := range cases {
		var segs []manifest.Segment
		for _, d := range c.durs {
			segs = append(segs, manifest.Segment{Duration: d})
		}
		if got := targetDuration(segs, c.ts); got != c.want {
			t.Errorf("%v @%d: %d, want %d", c.durs, c.ts, got, c.want)
		}
	}
}

func TestExpandNumber(t *testing.T) {
	cases := []struct {
		pattern string
		n       int
		want    string
		err     bool
	}{
		{"seg_$Number$.m4s", 7, "seg_7.m4s", false},
		{"seg_$Number%05d$.m4s", 7, "seg_00007.m4s", false},
		{"seg.m4s", 7, "", true},
		{"seg_$Number.m4s", 7, "", true},
		{"seg_$Number%5x$.m4s", 7, "", true},
		{"$Number$_$Number$", 7, "", true},
	}
	for _, c := range cases {
		got, err := expandNumber(c.pattern, c.n)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: %q, %v", c.pattern, got, err)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	cases := append(manifesttest.CommonErrorCases(ErrInvalidPresentation, ErrMissingSignaling), []manifesttest.ErrorCase{
		{Name: "quote in key URI", Mutate: func(p *manifest.Presentation) {
			p.Tracks[0].Protection.Systems[2].KeyURI = "skd://\n"
		}, Want: ErrInvalidPresentation},
		{Name: "playready without PRO", Mutate: func(p *manifest.Presentation) { p.Tracks[0].Protection.Systems[1].PRO = nil }, Want: ErrMissingSignaling},
	}...)
	manifesttest.CheckErrors(t, func(p manifest.Presentation) error {
		_, err := Marshal(p)
		return err
	}, cases)
}

// FuzzMarshalMedia: any track either fails with a sentinel error or yields a
// playlist hls-m3u8 reads back (strict) with every segment.
func FuzzMarshalMedia(f *testing.F) {
	f.Add(uint32(90000), uint64(0), uint64(180000), uint64(45000), uint8(5), uint8(2), "seg_$Number$.m4s", "https://l.example/ck")
	f.Add(uint32(48000), uint64(1<<40), uint64(96256), uint64(1), uint8(1), uint8(0), "s$Number%04d$.m4s", "")
	f.Add(uint32(1), uint64(0), uint64(1), uint64(1), uint8(2), uint8(0), "#EXT$Number$", "a,b")
	f.Fuzz(func(t *testing.T, ts uint32, start, d, last uint64, n, clearLead uint8, pattern, url string) {
		tr := manifesttest.Cases()[2].P.Tracks[0] // clear lead, widevine + clearkey
		tr.Timescale, tr.MediaPattern = ts, pattern
		tr.Protection.Systems[1].LicenseURL = url
		tr.Segments = manifesttest.Segments(1, int(n%20)+1, start, d, last, int(clearLead%22))
		data, err := MarshalMedia(tr)
		if err != nil {
			if !errors.Is(err, ErrInvalidPresentation) && !errors.Is(err, ErrMissingSignaling) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		pl, _, err := m3u8.DecodeFrom(bytes.NewReader(data), true)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, data)
		}
		if got := len(pl.(*m3u8.MediaPlaylist).GetAllSegments()); got != len(tr.Segments) {
			t.Fatalf("%d segments parsed, want %d\n%s", got, len(tr.Segments), data)
		}
	})
}

// TestSyncHLS: a track that asks for date sync carries
// EXT-X-PROGRAM-DATE-TIME on its first segment, the epoch plus its start, and
// an independent HLS parser reads that date back.
func TestSyncHLS(t *testing.T) {
	tr := manifest.Track{ID: "a", Dir: "a", Type: manifest.Audio, Codecs: "mp4a.40.2", Bandwidth: 1, Channels: 2,
		Timescale: 48000, InitFile: "init.mp4", MediaPattern: "$Number$.m4s", StartNumber: 1,
		Segments: []manifest.Segment{{Number: 1, Start: 22944, Duration: 96000}, {Number: 2, Start: 118944, Duration: 96000}}}
	for _, sync := range []bool{false, true} {
		tr.SyncHLS = sync
		data, err := MarshalMedia(tr)
		pl := decodePlaylist(t, data, err, m3u8.MEDIA).(*m3u8.MediaPlaylist)
		segs := pl.GetAllSegments()
		got := segs[0].ProgramDateTime
		if !sync {
			if !got.IsZero() || strings.Contains(string(data), "PROGRAM-DATE-TIME") {
				t.Errorf("EXT-X-PROGRAM-DATE-TIME without SyncHLS:\n%s", data)
			}
			continue
		}
		if want := time.Unix(0, 478*int64(time.Millisecond)).UTC(); !got.Equal(want) {
			t.Errorf("first segment date %v, want %v (0.478 s after the epoch)", got, want)
		}
		if strings.Count(string(data), "PROGRAM-DATE-TIME") != 1 {
			t.Errorf("want one EXT-X-PROGRAM-DATE-TIME:\n%s", data)
		}
	}
}

// checkSubtitles checks that variant v names the subtitles group when there
// are text tracks, and that the group lists each with a unique NAME, its
// language and playlist, none DEFAULT.
func checkSubtitles(t *testing.T, v *m3u8.Variant, texts []manifest.Track) {
	t.Helper()
	if (v.Subtitles == SubtitlesGroup) != (len(texts) > 0) {
		t.Errorf("%s: SUBTITLES=%q with %d text tracks", v.URI, v.Subtitles, len(texts))
	}
	var subs []*m3u8.Alternative
	for _, alt := range v.Alternatives {
		if alt.Type == "SUBTITLES" {
			subs = append(subs, alt)
		}
	}
	if len(subs) != len(texts) {
		t.Fatalf("%s: %d subtitle renditions, want %d", v.URI, len(subs), len(texts))
	}
	names := map[string]bool{}
	for i, alt := range subs {
		if alt.GroupId != SubtitlesGroup || alt.Default || !alt.Autoselect || alt.URI != texts[i].Dir+"/playlist.m3u8" ||
			alt.Language != texts[i].Language || !strings.HasPrefix(alt.Name, texts[i].Label) || names[alt.Name] {
			t.Errorf("%s: subtitle rendition %d: %+v", v.URI, i, alt)
		}
		names[alt.Name] = true
	}
}

// TestKeyPeriodsOneInit: key periods that share one init segment (in-band
// key rotation) give one EXT-X-MAP and a new EXT-X-KEY set per period.
func TestKeyPeriodsOneInit(t *testing.T) {
	tr := manifesttest.Named(t, "key_rotation").Tracks[0]
	if len(tr.KeyPeriods) < 2 {
		t.Fatal("the key_rotation case has fewer than two key periods")
	}
	tr.KeyPeriods = append([]manifest.KeyPeriod(nil), tr.KeyPeriods...)
	for i := range tr.KeyPeriods {
		tr.KeyPeriods[i].InitFile = "init.mp4"
	}
	tr.InitFile = "init.mp4"
	b, err := MarshalMedia(tr)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "#EXT-X-MAP:"); n != 1 {
		t.Errorf("%d EXT-X-MAP tags, want 1:\n%s", n, b)
	}
	for _, kp := range tr.KeyPeriods {
		if !strings.Contains(string(b), strings.ToUpper(kp.Protection.KID.Hex())) {
			t.Errorf("no EXT-X-KEY with the KID of key period %d", kp.Index)
		}
	}
}
