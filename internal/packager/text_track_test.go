package packager

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/media/webvtt"
	"github.com/drmpipe/drmpipe/internal/storage"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

const textSample = `WEBVTT
Kind: captions

STYLE
::cue { color: yellow }

a
00:00:00.500 --> 00:00:02.500 align:start
spans a boundary

00:00:01.000 --> 00:00:01.500
overlaps a

00:00:04.200 --> 00:00:04.300
short

00:00:06.000 --> 00:00:07.000
past the end
`

// decodeWvtt reads the CMAF text track in dir back with mp4ff and returns
// the vttC config, the cues (a cue repeated over adjacent samples merged
// into one) and the segments' [tfdt, tfdt+duration) intervals.
func decodeWvtt(t *testing.T, dir string, n int) (string, []testtools.Cue, [][2]int64) {
	t.Helper()
	initData, err := os.ReadFile(filepath.Join(dir, "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	init, err := mp4.DecodeFile(bytes.NewReader(initData))
	if err != nil {
		t.Fatal(err)
	}
	trak := init.Moov.Traks[0]
	if trak.Mdia.Hdlr.HandlerType != "text" || trak.Mdia.Mdhd.Timescale != 1000 {
		t.Errorf("handler %q timescale %d", trak.Mdia.Hdlr.HandlerType, trak.Mdia.Mdhd.Timescale)
	}
	entry := trak.Mdia.Minf.Stbl.Stsd.Children[0].(*mp4.WvttBox)
	trex := init.Moov.Mvex.Trex
	var cues []testtools.Cue
	var spans [][2]int64
	for k := 1; k <= n; k++ {
		data, err := os.ReadFile(filepath.Join(dir, segmentFile(k)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := mp4.DecodeFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		frag := f.Segments[0].Fragments[0]
		if frag.Moof.Traf.Senc != nil {
			t.Errorf("segment %d has senc: text must not be encrypted", k)
		}
		samples, err := frag.GetFullSamples(trex)
		if err != nil {
			t.Fatal(err)
		}
		start := int64(frag.Moof.Traf.Tfdt.BaseMediaDecodeTime())
		end := start
		for _, s := range samples {
			p, q := int64(s.DecodeTime), int64(s.DecodeTime)+int64(s.Dur)
			end = q
			boxes, err := mp4.DecodeFile(bytes.NewReader(s.Data))
			if err != nil {
				t.Fatalf("segment %d sample at %d: %v", k, p, err)
			}
			var others []string
			if cues, others = testtools.AppendVTTCues(cues, boxes.Children, p, q); others != nil {
				t.Errorf("segment %d sample at %d: boxes %v besides vttc and vtte", k, p, others)
			}
		}
		spans = append(spans, [2]int64{start, end})
	}
	return entry.VttC.Config, cues, spans
}

// TestTextTrackRoundTrip writes a text track cut at 0, 2, 4 and 5 s and
// reads it back with mp4ff: the samples cover every segment without gaps,
// the vttC holds the header and STYLE block, and the cues come back with
// their times, identifiers, settings and text, cut to the presentation end.
func TestTextTrackRoundTrip(t *testing.T) {
	vtt, err := webvtt.Parse("sample.vtt", []byte(textSample))
	if err != nil {
		t.Fatal(err)
	}
	j := &textJob{name: "text_en", source: "sample.vtt", lang: "en", label: "English", vtt: vtt}
	dir := t.TempDir()
	bounds := []int64{0, 2000, 4000, 5000}
	out, err := storage.OpenLocalOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	warn, err := j.write(context.Background(), out, "", bounds)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Publish(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warn, "1 cue(s) start after the end") {
		t.Errorf("warning %q", warn)
	}
	config, cues, spans := decodeWvtt(t, dir, 3)
	if want := "WEBVTT\nKind: captions\n\nSTYLE\n::cue { color: yellow }"; config != want {
		t.Errorf("vttC %q, want %q", config, want)
	}
	if want := [][2]int64{{0, 2000}, {2000, 4000}, {4000, 5000}}; !reflect.DeepEqual(spans, want) {
		t.Errorf("segments cover %v, want %v", spans, want)
	}
	want := []testtools.Cue{
		{ID: "a", Settings: "align:start", Text: "spans a boundary", Start: 500, End: 2500},
		{Text: "overlaps a", Start: 1000, End: 1500},
		{Text: "short", Start: 4200, End: 4300},
	}
	if !reflect.DeepEqual(cues, want) {
		t.Errorf("cues\n%+v\nwant\n%+v", cues, want)
	}
	for k, seg := range j.segments {
		if seg.Number != k+1 || int64(seg.Start) != bounds[k] || int64(seg.Duration) != bounds[k+1]-bounds[k] {
			t.Errorf("segment %+v", seg)
		}
	}
	// The HLS segments repeat a boundary-spanning cue in both segments,
	// with a timestamp map to media time 0.
	for k, wantCues := range [][]string{{"spans a boundary", "overlaps a"}, {"spans a boundary"}, {"short"}} {
		data, err := os.ReadFile(filepath.Join(dir, vttSegmentFile(k+1)))
		if err != nil {
			t.Fatal(err)
		}
		seg, err := webvtt.Parse("seg", data)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, c := range seg.Cues {
			texts = append(texts, c.Text)
		}
		if !slices.Equal(texts, wantCues) || seg.Header[0] != "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000" {
			t.Errorf("segment %d: header %q cues %q, want %q", k+1, seg.Header, texts, wantCues)
		}
	}
}

// TestTextSamplesGapless: samples tile [a, b) exactly.
func TestTextSamplesGapless(t *testing.T) {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	cues := []webvtt.Cue{{Start: ms(100), End: ms(900), Text: "x"}, {Start: ms(300), End: ms(400), Text: "y"}, {Start: ms(300), End: ms(1500), Text: "z"}}
	durs, data := textSamples(cues, 0, 1000)
	wantDurs := []uint32{100, 200, 100, 500, 100}
	if !slices.Equal(durs, wantDurs) {
		t.Errorf("durations %v, want %v", durs, wantDurs)
	}
	counts := []int{0, 1, 3, 2, 1} // active cues per sample
	for i, d := range data {
		if n := bytes.Count(d, []byte("vttc")); n != counts[i] || (n == 0) != bytes.Contains(d, []byte("vtte")) {
			t.Errorf("sample %d: %d vttc, want %d", i, n, counts[i])
		}
	}
}
