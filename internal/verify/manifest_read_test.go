package verify

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/mp4"
)

// malformedManifests are inputs that once made verify panic or hang (issue
// 16, defect 6), with the problem each must give instead. They also seed the
// fuzz targets below.
var malformedManifests = []struct {
	name, file, data, want string
}{
	// hls-m3u8 v0.6.5 indexes past the end of an attribute list that ends
	// in a name without '='.
	{"key without value", "master.m3u8", "#EXT-X-KEY:0", `master.m3u8: playlist does not parse: line 1: EXT-X-KEY: attribute "0" without '=' value`},
	{"key junk", "media.m3u8", "#EXTM3U\n#EXT-X-KEY:\x00\xff junk ,,,=\"\n#EXTINF:2,\nseg.m4s\n", "media.m3u8: playlist does not parse: line 2: EXT-X-KEY: attribute name expected at column 1"},
	{"key trailing name", "media.m3u8", "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI\n#EXTINF:2,\nseg.m4s\n", `media.m3u8: playlist does not parse: line 2: EXT-X-KEY: attribute "URI" without '=' value`},
	{"key unterminated quote", "media.m3u8", "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://x\n#EXTINF:2,\nseg.m4s\n", `EXT-X-KEY: attribute "URI": unterminated quoted string`},
	// dash-mpd v0.17.0's XML decoder loops forever on '>' in character data.
	{"truncated prolog", "manifest.mpd", `xml version="1.0"?>`, "manifest.mpd: MPD: MPD does not parse: not well-formed XML: no root element"},
	{"prolog without end", "manifest.mpd", `<?xml version="1.0"`, "manifest.mpd: MPD: MPD does not parse: not well-formed XML: XML syntax error on line 1: unexpected EOF"},
	{"gt in text", "manifest.mpd", `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">a>b</MPD>`, "manifest.mpd: MPD: no Period/AdaptationSet/Representation"},
	{"not an MPD", "manifest.mpd", `<html>></html>`, "manifest.mpd: MPD: MPD does not parse: expected element type <MPD> but have <html>"},
}

// verifyBounded runs Dir on dir and fails when it does not return within
// limit (a hang leaves one goroutine behind, but the test fails).
func verifyBounded(t *testing.T, dir string, limit time.Duration) *Report {
	t.Helper()
	type result struct {
		r   *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Dir(context.Background(), dir, nil)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("Dir: %v", res.err)
		}
		return res.r
	case <-time.After(limit):
		t.Fatalf("Dir did not return within %v", limit)
		return nil
	}
}

func writeManifest(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedManifests(t *testing.T) {
	for _, tc := range malformedManifests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeManifest(t, dir, tc.file, tc.data)
			r := verifyBounded(t, dir, 5*time.Second)
			expectProblems(t, r, tc.want)
		})
	}
}

func TestManifestTooLarge(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, "big.m3u8", "#EXTM3U\n"+strings.Repeat("#\n", maxManifestBytes/2))
	expectProblems(t, verifyBounded(t, dir, 5*time.Second), "big.m3u8: cannot read playlist: manifest too large")
}

// A SegmentTemplate with a period of a hundred years in many
// Representations lists 10^5 segments each; verify stops looking after
// maxMissing missing files per Representation.
func TestManyMissingSegments(t *testing.T) {
	dir := t.TempDir()
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(48000, "audio", "und")
	if err := init.Moov.Trak.SetAACDescriptor(aac.AAClc, 48000); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.mp4"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	reps := ""
	for i := range 20 {
		reps += fmt.Sprintf(`<Representation id="v%d" bandwidth="1"/>`, i)
	}
	writeManifest(t, dir, "manifest.mpd", `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT876000H"><Period><AdaptationSet>`+
		`<SegmentTemplate initialization="init.mp4" media="$RepresentationID$-$Number$.m4s" duration="1" timescale="1"/>`+reps+`</AdaptationSet></Period></MPD>`)
	r := verifyBounded(t, dir, 10*time.Second)
	stopped := 0
	for _, p := range r.Problems {
		if strings.Contains(p.Message, "media segments missing; the rest are not looked for") {
			stopped++
		}
	}
	if stopped != 20 || len(r.Problems) != 20*(maxMissing+1) {
		t.Errorf("%d problems, %d stops; want %d and 20", len(r.Problems), stopped, 20*(maxMissing+1))
	}
}

func TestReferenceBudget(t *testing.T) {
	c := &checker{ctx: context.Background(), report: &Report{}, seen: map[string]bool{}}
	for i := 0; i < maxRefs; i++ {
		if !c.takeRef("m.mpd", "") {
			t.Fatalf("budget spent after %d references", i)
		}
	}
	first, second := c.takeRef("m.mpd", ""), c.takeRef("m.mpd", "")
	if first || second || len(c.report.Problems) != 1 {
		t.Errorf("reference %d accepted or not reported once: %v", maxRefs+1, c.report.Problems)
	}
}

func TestDirCancelled(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, "manifest.mpd", `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dir(ctx, dir, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

func FuzzDASH(f *testing.F) {
	fuzzManifest(f, "manifest.mpd", "cbcs/manifest.mpd", "cenc/manifest.mpd")
}

func FuzzHLS(f *testing.F) {
	fuzzManifest(f, "x.m3u8", "cbcs/master.m3u8", "cbcs/video_720p/playlist.m3u8")
}

// fuzzManifest verifies fuzzed bytes written as file within a time bound,
// seeded with the malformed manifests of file's extension and the goldens.
func fuzzManifest(f *testing.F, file string, goldens ...string) {
	for _, tc := range malformedManifests {
		if filepath.Ext(tc.file) == filepath.Ext(file) {
			f.Add([]byte(tc.data))
		}
	}
	for _, g := range goldens {
		f.Add(readGolden(f, g))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		writeManifest(t, dir, file, string(data))
		verifyBounded(t, dir, 10*time.Second)
	})
}

// readGolden reads a manifest that drmpipe's own packager writes (the CLI's
// golden files) as a realistic fuzz seed.
func readGolden(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "cli", "testdata", "golden", filepath.FromSlash(name)))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
