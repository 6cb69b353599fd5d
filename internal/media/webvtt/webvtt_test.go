package webvtt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// validCases are well-formed files and what Parse must return; the fuzz
// target starts from them too.
var validCases = []struct {
	name string
	in   string
	want File
}{
	{"minimal", "WEBVTT\n", File{}},
	{"bom crlf title", "\uFEFFWEBVTT - title\r\n\r\n00:01.000 --> 00:02.500\r\nhello\r\n", File{Cues: []Cue{{Start: ms(1000), End: ms(2500), Text: "hello"}}}},
	{"cr only", "WEBVTT\r\r1\r00:00:00.000 --> 00:00:01.000\rx\r", File{Cues: []Cue{{ID: "1", Start: 0, End: ms(1000), Text: "x"}}}},
	{"header style region note", "WEBVTT\nKind: captions\nLanguage: en\n\nSTYLE\n::cue { color: yellow }\n\nREGION\nid:r1 width:40%\n\nNOTE this is\na comment\n\nintro\n01:00:00.001 --> 01:00:02.000 align:start   line:0\n<v Bob>two</v>\nlines &amp; more\n\nNOTE\tlater\n\n00:00.500 --> 00:00.600\nearlier\n",
		File{Header: []string{"Kind: captions", "Language: en"}, Styles: []string{"::cue { color: yellow }"}, Regions: []string{"id:r1 width:40%"}, Cues: []Cue{
			{Start: ms(500), End: ms(600), Text: "earlier"},
			{ID: "intro", Start: ms(3600001), End: ms(3602000), Settings: "align:start line:0", Text: "<v Bob>two</v>\nlines &amp; more"},
		}}},
	{"empty payload and long hours", "WEBVTT\n\n100:00:00.000 --> 100:00:00.001\n", File{Cues: []Cue{{Start: 100 * time.Hour, End: 100*time.Hour + ms(1)}}}},
	{"nul replaced", "WEBVTT\n\n00:00.000 --> 00:01.000\na\x00b\n", File{Cues: []Cue{{End: ms(1000), Text: "a\uFFFDb"}}}},
}

func TestParse(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("in.vtt", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			// Marshal then Parse gives the same cues, header and blocks.
			again, err := Parse("again.vtt", got.Marshal())
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, got.Marshal())
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip: %+v, want %+v", again, got)
			}
		})
	}
}

// TestParseErrors: malformed input gives ErrSyntax with file and line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "x.vtt:1: "},
		{"no signature", "WEBVTTX\n", "x.vtt:1: "},
		{"signature not first", "\nWEBVTT\n", "x.vtt:1: "},
		{"cue in header", "WEBVTT\n00:00.000 --> 00:01.000\n", "x.vtt:2: "},
		{"bad minutes", "WEBVTT\n\n00:60.000 --> 00:61.000\nx\n", "x.vtt:3: "},
		{"two fraction digits", "WEBVTT\n\nid\n00:00.00 --> 00:01.000\n", "x.vtt:4: "},
		{"no arrow", "WEBVTT\n\n00:00.000 -> 00:01.000\nx\n", "x.vtt:3: "},
		{"bad timing after id", "WEBVTT\n\nid\n00:00.000 --> 1:00.000\nx\n", "x.vtt:4: "},
		{"end before start", "WEBVTT\n\n\n00:02.000 --> 00:01.000\nx\n", "x.vtt:4: "},
		{"end equals start", "WEBVTT\n\n00:01.000 --> 00:01.000\n", "x.vtt:3: "},
		{"junk after end", "WEBVTT\n\n00:00.000 --> 00:01.000x\n", "x.vtt:3: "},
		{"arrow in text", "WEBVTT\n\n00:00.000 --> 00:01.000\nline\n00:01.000 --> 00:02.000\n", "x.vtt:5: "},
		{"style after cue", "WEBVTT\n\n00:00.000 --> 00:01.000\nx\n\nSTYLE\n::cue{}\n", "x.vtt:6: "},
		{"unknown block", "WEBVTT\n\n00:00.000 --> 00:01.000\nx\n\nhello\nworld\n", "x.vtt:6: "},
		{"invalid utf8", "WEBVTT\n\n00:00.000 --> 00:01.000\n\xff\n", "x.vtt:4: "},
		{"too many hours digits", "WEBVTT\n\n1234567:00:00.000 --> 1234568:00:00.000\n", "x.vtt:3: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.vtt", []byte(tc.in))
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestEscapeText(t *testing.T) {
	got := EscapeText("a < b & c\r\n\r\n  \n--> d>")
	if want := "a &lt; b &amp; c\n--&gt; d&gt;"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	f := File{Cues: []Cue{{Start: 0, End: ms(1), Text: got}}}
	if _, err := Parse("x", f.Marshal()); err != nil {
		t.Errorf("escaped text does not parse: %v", err)
	}
}

func TestConfig(t *testing.T) {
	f := File{Header: []string{"Kind: captions"}, Styles: []string{"::cue{}"}, Cues: []Cue{{End: ms(1), Text: "x"}}}
	if got, want := f.Config(), "WEBVTT\nKind: captions\n\nSTYLE\n::cue{}"; got != want {
		t.Errorf("Config() = %q, want %q", got, want)
	}
}

// FuzzParse: Parse never panics; every error wraps ErrSyntax and names a
// line; every parsed file survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse("f.vtt", data)
		if err != nil {
			if !errors.Is(err, ErrSyntax) || !strings.HasPrefix(err.Error(), "f.vtt:") {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, c := range got.Cues {
			if c.End <= c.Start {
				t.Fatalf("cue %+v ends before it starts", c)
			}
		}
		again, err := Parse("again.vtt", got.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v\n%q", err, got.Marshal())
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip:\n%+v\n%+v", again, got)
		}
	})
}
