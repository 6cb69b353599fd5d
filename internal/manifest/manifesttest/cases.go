package manifesttest

// Package manifesttest is the shared case table of the manifest writers
// (STYLE habit 7): the same presentations feed the golden, parse-back and
// error tests of manifest/dash and manifest/hls. Imported by tests only.

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/manifest"
)

// Case is one named presentation.
type Case struct {
	Name string
	P    manifest.Presentation
}

// Synthetic key IDs (not from any published vector; they only need to differ).
var (
	KIDVideo = drm.KeyID{0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b}
	kidAudio = drm.KeyID{0x9e, 0xb4, 0x05, 0x0d, 0xe4, 0x4b, 0x48, 0x02, 0x93, 0x2e, 0x27, 0xd7, 0x50, 0x83, 0xe2, 0x66}
	kidSD    = drm.KeyID{0x2f, 0x05, 0x47, 0x7f, 0xc2, 0x4b, 0xb4, 0xfa, 0xef, 0xd8, 0x65, 0x17, 0x15, 0x6d, 0xaf, 0xfc}
	ivCBCS   = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
)

// psshBox builds a version 0 pssh box (ISO/IEC 23001-7 §8.1) around synthetic
// system data; the manifest writers only base64 it, so the payload need not be
// a real Widevine or PlayReady structure.
func psshBox(sys drm.SystemID, data []byte) []byte {
	b := make([]byte, 32+len(data))
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)))
	copy(b[4:], "pssh")
	copy(b[12:], sys[:])
	binary.BigEndian.PutUint32(b[28:], uint32(len(data)))
	copy(b[32:], data)
	return b
}

// protection returns the signaling of the listed systems for kid.
func protection(scheme cenc.Scheme, kid drm.KeyID, systems []drm.System, withURLs bool) *manifest.Protection {
	p := &manifest.Protection{Scheme: scheme, KID: kid}
	if scheme == cenc.CBCS {
		p.ConstantIV = ivCBCS
	}
	for _, s := range systems {
		sig := manifest.SystemSignaling{System: s}
		switch s {
		case drm.Widevine:
			sig.PSSH = psshBox(drm.Widevine.SystemID(), append([]byte("\x12\x10"), kid[:]...))
		case drm.PlayReady:
			sig.PRO = append([]byte("synthetic PlayReady Object for "), kid[:]...)
			sig.PSSH = psshBox(drm.PlayReady.SystemID(), sig.PRO)
			if withURLs {
				sig.LicenseURL = "https://license.example.com/playready?x=1&y=2"
			}
		case drm.FairPlay:
			sig.KeyURI = "skd://" + kid.Hex()
		case drm.ClearKey:
			if withURLs {
				sig.LicenseURL = "https://license.example.com/clearkey"
			}
		}
		p.Systems = append(p.Systems, sig)
	}
	return p
}

// segments returns n segments of dur ticks starting at start, the last one
// lastDur long; the first clearLead are marked Clear.
// Segments builds n consecutive segments (see the table for use).
func Segments(startNumber, n int, start, dur, lastDur uint64, clearLead int) []manifest.Segment {
	segs := make([]manifest.Segment, n)
	t := start
	for i := range segs {
		d := dur
		if i == n-1 {
			d = lastDur
		}
		segs[i] = manifest.Segment{Number: startNumber + i, Start: t, Duration: d, Size: int64(1000 + 10*i), Clear: i < clearLead}
		t += d
	}
	return segs
}

// aacSegments returns 48 kHz AAC segments of whole 1024-sample frames that
// stay within one frame of 2 s boundaries (94, 94, 93, ... frames), as a
// packager cutting audio at video boundaries produces.
func aacSegments(n int, clearLead int) []manifest.Segment {
	segs := make([]manifest.Segment, n)
	var t uint64
	for i := range segs {
		end := uint64(i+1) * 2 * 48000
		frames := (end - t + 1023) / 1024
		if i == n-1 {
			frames = 23 // short tail
		}
		segs[i] = manifest.Segment{Number: 1 + i, Start: t, Duration: frames * 1024, Size: int64(32000 + i), Clear: i < clearLead}
		t += frames * 1024
	}
	return segs
}

func videoTrack(id string, w, h, bw int, codecs string, prot *manifest.Protection, clearLead int) manifest.Track {
	return manifest.Track{
		ID: id, Dir: id, Type: manifest.Video, Codecs: codecs,
		Bandwidth: bw, AverageBandwidth: bw * 4 / 5, Width: w, Height: h, FrameRate: "30",
		Timescale: 90000, InitFile: "init.mp4", MediaPattern: "seg_$Number$.m4s", StartNumber: 1,
		Segments:   Segments(1, 5, 0, 180000, 45000, clearLead),
		Protection: prot,
	}
}

func audioTrack(id, lang, codecs string, channels, bw int, prot *manifest.Protection, clearLead int) manifest.Track {
	return manifest.Track{
		ID: id, Dir: id, Type: manifest.Audio, Codecs: codecs,
		Bandwidth: bw, AverageBandwidth: bw - 3000, SampleRate: 48000, Channels: channels, Language: lang,
		Timescale: 48000, InitFile: "init.mp4", MediaPattern: "seg_$Number$.m4s", StartNumber: 1,
		Segments:   aacSegments(5, clearLead),
		Protection: prot,
	}
}

// textTrack is a WebVTT subtitle track in millisecond timescale cut at the
// video's 2 s boundaries.
func textTrack(id, lang, label string) manifest.Track {
	return manifest.Track{
		ID: id, Dir: id, Type: manifest.Text, Codecs: "wvtt", Language: lang, Label: label,
		Bandwidth: 800, AverageBandwidth: 600, Timescale: 1000,
		InitFile: "init.mp4", MediaPattern: "seg_$Number$.m4s", WebVTTPattern: "seg_$Number$.vtt", StartNumber: 1,
		Segments: Segments(1, 5, 0, 2000, 500, 0),
	}
}

// KIDsRotation are the KIDs of the three key periods of the key_rotation
// case, one per period for every track (one key slot).
var KIDsRotation = []drm.KeyID{
	{0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xa0},
	{0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0xa1},
	{0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0xa2},
}

// rotated splits t into key periods starting at the given segment numbers,
// one KID of KIDsRotation each, with init_p<n>.mp4 init segments (the
// packager's layout under --key-period).
func rotated(t manifest.Track, scheme cenc.Scheme, systems []drm.System, firsts ...int) manifest.Track {
	for n, first := range firsts {
		p := manifest.KeyPeriod{Index: n, FirstSegment: first, InitFile: "init_p" + string(rune('0'+n)) + ".mp4",
			Protection: protection(scheme, KIDsRotation[n], systems, true)}
		t.KeyPeriods = append(t.KeyPeriods, p)
	}
	t.InitFile, t.Protection = t.KeyPeriods[0].InitFile, t.KeyPeriods[0].Protection
	return t
}

// Cases returns the table (a fresh copy each call; tests may modify it).
func Cases() []Case {
	all := []drm.System{drm.Widevine, drm.PlayReady, drm.FairPlay, drm.ClearKey}
	noFP := []drm.System{drm.Widevine, drm.PlayReady, drm.ClearKey}
	const dur = 8.5
	return []Case{
		{"cbcs_all_drms", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			videoTrack("video_360p", 640, 360, 900_000, "avc1.64001e", protection(cenc.CBCS, kidSD, all, true), 0),
			videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", protection(cenc.CBCS, KIDVideo, all, true), 0),
			audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CBCS, kidAudio, all, true), 0),
		}}},
		{"cenc_no_fairplay", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			videoTrack("video_360p", 640, 360, 900_000, "avc1.64001e", protection(cenc.CENC, KIDVideo, noFP, false), 0),
			videoTrack("video_720p", 1280, 720, 3_000_000, "hvc1.1.6.L93.B0", protection(cenc.CENC, KIDVideo, noFP, false), 0),
			audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CENC, kidAudio, noFP, false), 0),
		}}},
		{"clear_lead", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", protection(cenc.CBCS, KIDVideo, []drm.System{drm.Widevine, drm.ClearKey}, true), 2),
			audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CBCS, kidAudio, []drm.System{drm.Widevine, drm.ClearKey}, true), 2),
		}}},
		{"audio_only", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			audioTrack("audio_en_128k", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CBCS, kidAudio, all, true), 0),
			audioTrack("audio_en_64k", "en", "mp4a.40.5", 2, 67_000, protection(cenc.CBCS, kidAudio, all, true), 0),
		}}},
		{"clear", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			func() manifest.Track {
				t := videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", nil, 0)
				t.Dir = "clear/video_720p"
				t.FrameRate = "30000/1001"
				t.PresentationTimeOffset = 9000
				t.Segments = Segments(1, 5, 9000, 180180, 45045, 0)
				return t
			}(),
			audioTrack("audio_und", "", "mp4a.40.2", 2, 131_000, nil, 0),
		}}},
		{"subtitles", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", protection(cenc.CBCS, KIDVideo, all, true), 0),
			audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CBCS, kidAudio, all, true), 0),
			textTrack("text_en", "en", "English"),
			textTrack("text_en_2", "en", "English"),
			textTrack("text_fr", "fr", "Français (forced)"),
		}}},
		{"audio_only_subtitles", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			audioTrack("audio_en_128k", "en", "mp4a.40.2", 2, 131_000, nil, 0),
			textTrack("text_und", "", "Subtitles"),
		}}},
		{"key_rotation", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			rotated(videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", nil, 1), cenc.CBCS, all, 1, 3, 5),
			rotated(audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, nil, 1), cenc.CBCS, all, 1, 3, 5),
		}}},
		{"multi_language", manifest.Presentation{Duration: dur, Tracks: []manifest.Track{
			videoTrack("video_720p", 1280, 720, 3_000_000, "avc1.64001f", protection(cenc.CBCS, KIDVideo, noFP, true), 0),
			audioTrack("audio_en", "en", "mp4a.40.2", 2, 131_000, protection(cenc.CBCS, kidAudio, noFP, true), 0),
			audioTrack("audio_fr", "fr", "mp4a.40.2", 2, 129_000, protection(cenc.CBCS, kidAudio, noFP, true), 0),
			audioTrack("audio_en_51", "en", "ec-3", 6, 640_000, protection(cenc.CBCS, kidAudio, noFP, true), 0),
			audioTrack("audio_de_ac3", "de", "ac-3", 2, 192_000, protection(cenc.CBCS, kidAudio, noFP, true), 0),
		}}},
	}
}

// update is the -update flag of the writers' tests.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares got, the output named name, with the golden file at path.
// With -update it first writes got there (creating the directory).
func Golden(t testing.TB, name, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update after checking the diff):\n%s", name, path, got)
	}
}

// Named returns the presentation of the case called name; the test fails
// when the table has no such case.
func Named(t testing.TB, name string) manifest.Presentation {
	t.Helper()
	for _, c := range Cases() {
		if c.Name == name {
			return c.P
		}
	}
	t.Fatalf("the shared table lacks the %s case", name)
	return manifest.Presentation{}
}
