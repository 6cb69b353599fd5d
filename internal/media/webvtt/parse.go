package webvtt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Parse reads a WebVTT file (W3C WebVTT §4 file structure, parsed after the
// algorithm of §6.1). name is used in error messages, which wrap ErrSyntax
// and read "name:line: ...". Parse requires what §4 requires of a file and
// the browser parser would only skip: the WEBVTT signature, a blank line
// after the header, well-formed cue timings with end after start, cue text
// without "-->", STYLE and REGION blocks only before the first cue, and no
// block of an unknown kind. Cues are returned sorted by start time (stable).
func Parse(name string, data []byte) (*File, error) {
	p := parser{name: name}
	if !utf8.Valid(data) {
		// Find the line of the first invalid byte for the message.
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, p.errf(1+strings.Count(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data[:i])), "\n"), "invalid UTF-8 at byte %d (§6.1: a WebVTT file is UTF-8)", i)
	}
	text := strings.TrimPrefix(string(data), "\uFEFF")
	text = strings.ReplaceAll(text, "\x00", "\uFFFD") // §6.1 step 1
	p.lines = splitLines(text)
	return p.parse()
}

// splitLines splits at CRLF, LF or CR (§4.1 line terminators).
func splitLines(s string) []string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type parser struct {
	name  string
	lines []string
}

func (p *parser) errf(line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %w: %s", p.name, line, ErrSyntax, fmt.Sprintf(format, a...))
}

func (p *parser) parse() (*File, error) {
	if len(p.lines) == 0 || !hasKeyword(p.lines[0], "WEBVTT") {
		return nil, p.errf(1, "the file does not start with \"WEBVTT\" (§4.1 file signature)")
	}
	f := &File{}
	i := 1
	for ; i < len(p.lines) && p.lines[i] != ""; i++ {
		if strings.Contains(p.lines[i], "-->") {
			return nil, p.errf(i+1, "\"-->\" in the header: a blank line must separate the header from the first cue (§4.1)")
		}
		f.Header = append(f.Header, p.lines[i])
	}
	for i < len(p.lines) {
		if p.lines[i] == "" {
			i++
			continue
		}
		start := i
		for i < len(p.lines) && p.lines[i] != "" {
			i++
		}
		if err := p.block(f, start, p.lines[start:i]); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(f.Cues, func(a, b Cue) int { return cmp.Compare(a.Start, b.Start) })
	return f, nil
}

// block classifies one block of lines (line index first) as §6.1 does: a
// cue when its first or second line contains "-->", else a NOTE, STYLE or
// REGION block by its first line.
func (p *parser) block(f *File, first int, lines []string) error {
	switch {
	case strings.Contains(lines[0], "-->"):
		return p.cue(f, first, "", lines)
	case len(lines) > 1 && strings.Contains(lines[1], "-->"):
		return p.cue(f, first+1, lines[0], lines[1:])
	case hasKeyword(lines[0], "NOTE"):
		return nil // §4.1 comment block
	case hasKeyword(lines[0], "STYLE"), hasKeyword(lines[0], "REGION"):
		kind := strings.Fields(lines[0])[0]
		if len(f.Cues) > 0 {
			return p.errf(first+1, "%s block after the first cue (§4.1: style and region blocks precede all cues)", kind)
		}
		body := strings.Join(lines[1:], "\n")
		if kind == "STYLE" {
			f.Styles = append(f.Styles, body)
		} else {
			f.Regions = append(f.Regions, body)
		}
		return nil
	}
	return p.errf(first+1, "block %q is neither a cue (no \"-->\" timing line) nor a NOTE, STYLE or REGION block (§4.1)", truncate(lines[0]))
}

// cue parses a cue whose timing line is lines[0] (line index at) and whose
// payload follows (§4.2).
func (p *parser) cue(f *File, at int, id string, lines []string) error {
	start, end, settings, err := parseTiming(lines[0])
	if err != nil {
		return p.errf(at+1, "cue timings %q: %v (§4.2.1)", truncate(lines[0]), err)
	}
	if end <= start {
		return p.errf(at+1, "cue ends at %s, not after its start %s (§4.2.1)", FormatTimestamp(end), FormatTimestamp(start))
	}
	for k, l := range lines[1:] {
		if strings.Contains(l, "-->") {
			return p.errf(at+2+k, "cue text contains \"-->\" (§4.2.2); is a blank line missing before the next cue?")
		}
	}
	f.Cues = append(f.Cues, Cue{ID: id, Start: start, End: end, Settings: settings, Text: strings.Join(lines[1:], "\n")})
	return nil
}

// hasKeyword reports whether line is kw alone or followed by a space or tab.
func hasKeyword(line, kw string) bool {
	rest, ok := strings.CutPrefix(line, kw)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// parseTiming reads "start --> end [settings]" (§4.2.1, parsed as §6.3).
func parseTiming(s string) (start, end time.Duration, settings string, err error) {
	start, rest, err := parseTimestamp(s)
	if err != nil {
		return 0, 0, "", fmt.Errorf("start time: %w", err)
	}
	rest = strings.TrimLeft(rest, " \t")
	rest, ok := strings.CutPrefix(rest, "-->")
	if !ok {
		return 0, 0, "", fmt.Errorf("no \"-->\" after the start time")
	}
	rest = strings.TrimLeft(rest, " \t")
	end, rest, err = parseTimestamp(rest)
	if err != nil {
		return 0, 0, "", fmt.Errorf("end time: %w", err)
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, 0, "", fmt.Errorf("%q after the end time", truncate(rest))
	}
	return start, end, strings.Join(strings.Fields(rest), " "), nil
}

// parseTimestamp reads a WebVTT timestamp at the start of s (§4.2.1):
// [hours:]mm:ss.ttt with two-digit minutes and seconds up to 59 and three
// fraction digits; hours have any number of digits.
func parseTimestamp(s string) (time.Duration, string, error) {
	var parts [3]string
	n := 0
	for {
		d := digits(s)
		if d == "" {
			return 0, "", fmt.Errorf("digits expected at %q", truncate(s))
		}
		if n == 3 {
			return 0, "", fmt.Errorf("too many ':' components")
		}
		parts[n] = d
		n++
		s = s[len(d):]
		if !strings.HasPrefix(s, ":") {
			break
		}
		s = s[1:]
	}
	if n < 2 || !strings.HasPrefix(s, ".") {
		return 0, "", fmt.Errorf("timestamp must be [hh:]mm:ss.ttt")
	}
	frac := digits(s[1:])
	if len(frac) != 3 {
		return 0, "", fmt.Errorf("fraction must have three digits, has %d", len(frac))
	}
	s = s[1+len(frac):]
	var h, m, sec string
	if n == 3 {
		h, m, sec = parts[0], parts[1], parts[2]
	} else {
		m, sec = parts[0], parts[1]
	}
	if len(m) != 2 || len(sec) != 2 {
		return 0, "", fmt.Errorf("minutes and seconds must have two digits")
	}
	if len(h) > 6 { // keeps the time within time.Duration

		return 0, "", fmt.Errorf("hours %s out of range", h)
	}
	hv, mv, sv, fv := atoi(h), atoi(m), atoi(sec), atoi(frac)
	if mv > 59 || sv > 59 {
		return 0, "", fmt.Errorf("minutes and seconds must be at most 59")
	}
	d := time.Duration(hv)*time.Hour + time.Duration(mv)*time.Minute + time.Duration(sv)*time.Second + time.Duration(fv)*time.Millisecond
	return d, s, nil
}

func digits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

func atoi(s string) int64 {
	var v int64
	for _, c := range s {
		v = v*10 + int64(c-'0')
	}
	return v
}
