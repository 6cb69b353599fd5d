package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/media/webvtt"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// textSidecar has overlapping cues, a cue across the 2 s and 4 s segment
// boundaries, an identifier, settings and markup.
const textSidecar = `WEBVTT

intro
00:00:00.500 --> 00:00:02.500 align:start line:0
<i>spans</i> the first boundary

00:00:01.000 --> 00:00:01.800
overlaps &amp; ends early

00:00:03.000 --> 00:00:04.600
second &lt;cue&gt;

00:00:05.000 --> 00:00:05.250
short
`

// cueSpan is a cue as a demuxer delivers it: its samples merged back into
// one interval (a cue spans several samples where others start or end),
// times in ms.
type cueSpan = testtools.Cue

// TestTextTrackInterop packages a clip (encrypted, cbcs) with a WebVTT
// sidecar and reads the DASH text track (WebVTT in CMAF) with ffprobe:
// ffmpeg's MP4 demuxer must deliver samples whose vttc boxes give back
// every cue of the sidecar at its times (cues round-trip). Shaka Packager
// 3.4.2 does not demux WebVTT-in-MP4 input (its MP4 parser skips text
// handler tracks, even its own output), so it serves as the reference
// writer instead: it packages the same sidecar into WebVTT in MP4, and the
// cues ffprobe reads from its output must equal those read from drmpipe's.
// The text track must not be encrypted while video and audio are.
func TestTextTrackInterop(t *testing.T) {
	dir := t.TempDir()
	vtt := filepath.Join(dir, "en.vtt")
	if err := os.WriteFile(vtt, []byte(textSidecar), 0o644); err != nil {
		t.Fatal(err)
	}
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 6, BFrames: 2, Audio: "aac"})
	out := filepath.Join(dir, "out")
	mustRun(t, "package", "-q", "-o", out, "--scheme", "cbcs", "--key", singleKey.flag(), "--text", vtt+":lang=en,name=English", clip)

	textDir := filepath.Join(out, "text_en")
	init, err := os.ReadFile(filepath.Join(textDir, "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(init, []byte("sinf")) || bytes.Contains(init, []byte("pssh")) {
		t.Error("text init segment carries protection boxes")
	}
	whole := bytes.Clone(init)
	segs, _ := filepath.Glob(filepath.Join(textDir, "seg_*.m4s"))
	sort.Slice(segs, func(i, j int) bool { return segNumber(segs[i]) < segNumber(segs[j]) })
	if len(segs) != 3 {
		t.Fatalf("%d text segments, want 3 (cut with the 2 s GOPs of the video)", len(segs))
	}
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("senc")) {
			t.Errorf("%s carries senc: text must be clear", s)
		}
		whole = append(whole, b...)
	}
	track := filepath.Join(dir, "text.mp4")
	if err := os.WriteFile(track, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	got, first := ffprobeCues(t, track)
	if first != 0 {
		t.Errorf("first text sample at %d ms: the samples must cover the timeline from 0 (vtte where no cue is active)", first)
	}

	parsed, err := webvtt.Parse(vtt, []byte(textSidecar))
	if err != nil {
		t.Fatal(err)
	}
	var want []cueSpan
	for _, c := range parsed.Cues {
		want = append(want, cueSpan{ID: c.ID, Settings: c.Settings, Text: c.Text, Start: c.Start.Milliseconds(), End: c.End.Milliseconds()})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ffprobe reads the cues\n%+v\nwant\n%+v", got, want)
	}

	// Shaka Packager's WebVTT-in-MP4 of the same sidecar, read the same way.
	shaka := filepath.Join(dir, "shaka_text.mp4")
	cmd := exec.Command(testtools.ShakaPackager(t), "in="+vtt+",stream=text,output="+shaka)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shaka packager: %v\n%s", err, b)
	}
	ref, _ := ffprobeCues(t, shaka)
	// Shaka Packager rewrites the settings: in its own order and with the
	// default alignment spelled out (W3C WebVTT §3.1: align defaults to
	// center). Compare them as sets without the default.
	for _, list := range [][]cueSpan{got, ref} {
		for i := range list {
			list[i].Settings = normalizeSettings(list[i].Settings)
		}
	}
	if !reflect.DeepEqual(got, ref) {
		t.Errorf("drmpipe's cues differ from Shaka Packager's:\ndrmpipe %+v\nshaka   %+v", got, ref)
	}
}

func normalizeSettings(s string) string {
	var out []string
	for _, f := range strings.Fields(s) {
		if f != "align:center" {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func segNumber(p string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "seg_"), ".m4s"))
	return n
}

// ffprobeCues reads the packets of the first stream of file with ffprobe
// (times and bytes as ffmpeg's MP4 demuxer delivers them), decodes the
// vttc/vtte boxes of each, and merges a cue repeated in adjacent samples.
// It also returns the time of the first packet.
func ffprobeCues(t *testing.T, file string) ([]cueSpan, int64) {
	t.Helper()
	out, err := exec.Command(testtools.FFprobe(t), "-hide_banner", "-loglevel", "error", "-show_packets", "-show_data", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var probe struct {
		Packets []struct {
			PTSTime string `json:"pts_time"`
			Data    string `json:"data"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	ms := func(s string) int64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("ffprobe time %q", s)
		}
		return time.Duration(f * float64(time.Second)).Round(time.Millisecond).Milliseconds()
	}
	var cues []cueSpan
	first := int64(-1)
	for i, p := range probe.Packets {
		// ffprobe gives data packets no duration: a sample lasts until the
		// next one starts; the last one's end comes from its trun.
		start, end := ms(p.PTSTime), lastSampleEnd(t, file)
		if i == 0 {
			first = start
		}
		if i+1 < len(probe.Packets) {
			end = ms(probe.Packets[i+1].PTSTime)
		}
		f, err := mp4.DecodeFile(bytes.NewReader(hexDump(t, p.Data)))
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		cues, _ = testtools.AppendVTTCues(cues, f.Children, start, end)
	}
	return cues, first
}

// lastSampleEnd returns the end in ms of the last sample of file (a
// fragmented MP4 with one track), from its last trun with mp4ff.
func lastSampleEnd(t *testing.T, file string) int64 {
	t.Helper()
	f, err := mp4.ReadMP4File(file)
	if err != nil {
		t.Fatal(err)
	}
	seg := f.Segments[len(f.Segments)-1]
	frag := seg.Fragments[len(seg.Fragments)-1]
	samples, err := frag.GetFullSamples(f.Init.Moov.Mvex.Trex)
	if err != nil || len(samples) == 0 {
		t.Fatalf("%s: last fragment: %v", file, err)
	}
	last := samples[len(samples)-1]
	return int64(last.DecodeTime+uint64(last.Dur)) * 1000 / int64(f.Init.Moov.Trak.Mdia.Mdhd.Timescale)
}

// hexDump decodes ffprobe's -show_data dump: lines of "OFFSET: " followed
// by up to eight groups of four hex digits, then the ASCII column.
func hexDump(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	for _, line := range strings.Split(s, "\n") {
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		hexPart, _, _ := strings.Cut(rest, "  ")
		d, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		if err != nil {
			t.Fatalf("ffprobe data line %q: %v", line, err)
		}
		b = append(b, d...)
	}
	return b
}

// TestTimedTextInterop: the mov_text (tx3g) track of an input becomes a
// WebVTT-in-CMAF track whose cues, read back with ffprobe, are the cues
// ffmpeg itself reads from the input (converted with -c:s webvtt).
func TestTimedTextInterop(t *testing.T) {
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 4, Audio: "aac", Subtitles: true})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	mustRun(t, "package", "-q", "-o", out, "--key", singleKey.flag(), clip)

	ref, err := exec.Command(testtools.FFmpeg(t), "-hide_banner", "-loglevel", "error", "-i", clip, "-map", "0:s:0", "-c:s", "webvtt", "-f", "webvtt", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg mov_text to webvtt: %v", err)
	}
	parsed, err := webvtt.Parse("ffmpeg output", ref)
	if err != nil {
		t.Fatal(err)
	}
	var want []cueSpan
	for _, c := range parsed.Cues {
		want = append(want, cueSpan{Text: c.Text, Start: c.Start.Milliseconds(), End: c.End.Milliseconds()})
	}
	if len(want) != 2 {
		t.Fatalf("ffmpeg reads %d cues from the input, want 2", len(want))
	}

	textDir := filepath.Join(out, "text")
	whole, err := os.ReadFile(filepath.Join(textDir, "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(textDir, "seg_*.m4s"))
	sort.Slice(segs, func(i, j int) bool { return segNumber(segs[i]) < segNumber(segs[j]) })
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, b...)
	}
	track := filepath.Join(dir, "text.mp4")
	if err := os.WriteFile(track, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := ffprobeCues(t, track)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cues of the packaged track\n%+v\nffmpeg reads from the input\n%+v", got, want)
	}
}
