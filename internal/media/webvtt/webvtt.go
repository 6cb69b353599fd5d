// Package webvtt reads and writes WebVTT files (W3C WebVTT: The Web Video
// Text Tracks Format, https://www.w3.org/TR/webvtt1/): the header, STYLE and
// REGION blocks and the cues with their identifiers, timings, settings and
// payload text. NOTE blocks (comments) are dropped.
//
// Parse is stricter than the browser parser of §6.1, which skips what it
// cannot read: a packager should refuse a file it would otherwise publish
// with cues missing, so a malformed block is an error naming file and line.
package webvtt

import (
	"fmt"
	"strings"
	"time"
)

// File is a parsed WebVTT file.
type File struct {
	// Header holds the lines between the "WEBVTT" line and the first blank
	// line (§4.1: the optional header text), without line terminators.
	Header []string
	// Styles and Regions are the bodies of the STYLE and REGION blocks
	// (§4.1, §4.2, §4.3), in file order, each without its first line.
	Styles  []string
	Regions []string
	// Cues are in file order; Parse requires start times in order (§4.1).
	Cues []Cue
}

// Cue is one WebVTT cue (§4.2).
type Cue struct {
	// ID is the optional cue identifier.
	ID string
	// Start and End are the cue timings; End > Start.
	Start, End time.Duration
	// Settings is the cue settings list as written after the end time,
	// e.g. "align:start line:0" (§4.4), or "".
	Settings string
	// Text is the cue payload; lines are joined with "\n".
	Text string
}

// Marshal writes f as a WebVTT file with LF line terminators. Cue times
// are written with hours (hh:mm:ss.ttt).
func (f *File) Marshal() []byte {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for _, h := range f.Header {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	for _, s := range f.Styles {
		b.WriteString("\nSTYLE\n")
		b.WriteString(s)
		b.WriteByte('\n')
	}
	for _, r := range f.Regions {
		b.WriteString("\nREGION\n")
		b.WriteString(r)
		b.WriteByte('\n')
	}
	for _, c := range f.Cues {
		b.WriteByte('\n')
		if c.ID != "" {
			b.WriteString(c.ID)
			b.WriteByte('\n')
		}
		b.WriteString(c.Timing())
		b.WriteByte('\n')
		b.WriteString(c.Text)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// Timing returns the cue timings line: "start --> end[ settings]".
func (c Cue) Timing() string {
	s := FormatTimestamp(c.Start) + " --> " + FormatTimestamp(c.End)
	if c.Settings != "" {
		s += " " + c.Settings
	}
	return s
}

// Config returns the text of the WebVTT configuration box (vttC, ISO/IEC
// 14496-30 §7.5): the "WEBVTT" line, the header lines and the STYLE and
// REGION blocks, everything of the file that precedes the first cue except
// comments.
func (f *File) Config() string {
	c := &File{Header: f.Header, Styles: f.Styles, Regions: f.Regions}
	return strings.TrimSuffix(string(c.Marshal()), "\n")
}

// FormatTimestamp writes d as a WebVTT timestamp hh:mm:ss.ttt (§4.2.1),
// truncated to milliseconds; negative values are written as 0.
func FormatTimestamp(d time.Duration) string {
	ms := max(d, 0).Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}

// EscapeText turns plain text (a 3GPP timed text sample, say) into a cue
// payload: "&", "<" and ">" become character references (§4.2.2, cue text
// may not contain "-->" or a bare "<" or "&"), line terminators become
// "\n" and empty lines, which would end the cue, are removed.
func EscapeText(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", "\n", "\r", "\n").Replace(s)
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
