package media

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/media/webvtt"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestTimedText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{"utf8 with style box", append([]byte("\x00\x05h\xc3\xa9 x"), "\x00\x00\x00\x0cstyl\x00\x00\x00\x00"...), "hé x", false},
		{"empty", []byte{0, 0}, "", false},
		{"utf16", []byte{0, 6, 0xfe, 0xff, 0, 'h', 0, 'i'}, "hi", false},
		{"short", []byte{0}, "", true},
		{"length past end", []byte{0, 4, 'a'}, "", true},
		{"bad utf8", []byte{0, 1, 0xff}, "", true},
		{"odd utf16", []byte{0, 3, 0xfe, 0xff, 0}, "", true},
	} {
		got, err := TimedText(tc.in)
		if tc.err {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// TestTextCues reads the mov_text track ffmpeg makes from two SRT cues
// (testtools.ClipOptions.Subtitles) back as WebVTT cues at their times.
func TestTextCues(t *testing.T) {
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 3, Audio: "aac", Subtitles: true})
	f, err := Open(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Skipped()) != 0 || len(f.TextTracks()) != 1 || len(f.Tracks()) != 2 {
		t.Fatalf("tracks %d, text tracks %d, skipped %v", len(f.Tracks()), len(f.TextTracks()), f.Skipped())
	}
	tt := f.TextTracks()[0]
	if tt.Kind != Text || tt.ID != 3 {
		t.Errorf("text track %+v", tt)
	}
	cues, err := f.TextCues(tt)
	if err != nil {
		t.Fatal(err)
	}
	want := []webvtt.Cue{
		{Start: 0, End: time.Second, Text: "first cue"},
		{Start: time.Second, End: 2 * time.Second, Text: "second cue"},
	}
	if !reflect.DeepEqual(cues, want) {
		t.Errorf("cues %+v, want %+v", cues, want)
	}
}
