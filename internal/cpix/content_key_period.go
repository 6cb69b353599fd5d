package cpix

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Interval is the time a ContentKeyPeriod covers, [Start, End).
type Interval struct {
	// WallClock tells the live form (@start, xs:dateTime) from the VOD
	// form (@startOffset, xs:duration).
	WallClock bool
	// Start and End are the time since the Unix epoch (wall clock) or the
	// media time since the start of the content (offsets).
	Start, End time.Duration
}

// Overlaps reports whether i and o share any instant (both half-open).
// Intervals of different forms never overlap: they are not comparable.
func (i Interval) Overlaps(o Interval) bool {
	return i.WallClock == o.WallClock && i.Start < o.End && o.Start < i.End
}

// Interval reads the time attributes of p, in the combinations CPIX 2.4
// §"ContentKeyPeriod Element" allows: @start with @end or @duration, or
// @startOffset with @endOffset or @duration. ok is false for a period with
// no time attributes (one the encryptor times itself, named by @index or
// @label). Any other combination, a value that does not parse, or an end
// not after the start is an error naming the period and attribute.
func (p ContentKeyPeriod) Interval() (iv Interval, ok bool, err error) {
	bad := func(format string, args ...any) (Interval, bool, error) {
		return Interval{}, false, fmt.Errorf("%w: ContentKeyPeriod %q: %s", ErrInvalid, p.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case p.Start == "" && p.StartOffset == "":
		if p.End != "" || p.EndOffset != "" || p.Duration != "" {
			return bad("an end or @duration without @start or @startOffset")
		}
		return Interval{}, false, nil
	case p.Start != "" && p.StartOffset != "":
		return bad("both @start and @startOffset")
	case p.Start != "":
		if p.EndOffset != "" {
			return bad("@endOffset with @start (use @end)")
		}
		iv.WallClock = true
		t, err := parseDateTime(p.Start)
		if err != nil {
			return bad("@start %q: %v", p.Start, err)
		}
		iv.Start = t
		if p.End != "" {
			if p.Duration != "" {
				return bad("both @end and @duration")
			}
			if iv.End, err = parseDateTime(p.End); err != nil {
				return bad("@end %q: %v", p.End, err)
			}
		}
	default:
		if p.End != "" {
			return bad("@end with @startOffset (use @endOffset)")
		}
		var err error
		if iv.Start, err = ParseDuration(p.StartOffset); err != nil {
			return bad("@startOffset %q: %v", p.StartOffset, err)
		}
		if p.EndOffset != "" {
			if p.Duration != "" {
				return bad("both @endOffset and @duration")
			}
			if iv.End, err = ParseDuration(p.EndOffset); err != nil {
				return bad("@endOffset %q: %v", p.EndOffset, err)
			}
		}
	}
	if p.Duration != "" {
		d, err := ParseDuration(p.Duration)
		if err != nil {
			return bad("@duration %q: %v", p.Duration, err)
		}
		if iv.Start > math.MaxInt64-d {
			return bad("@duration %q runs past the year 2262", p.Duration)
		}
		iv.End = iv.Start + d
	} else if p.End == "" && p.EndOffset == "" {
		return bad("a start without @end, @endOffset or @duration")
	}
	if iv.End <= iv.Start {
		return bad("ends at or before its start")
	}
	return iv, true, nil
}

// SetInterval writes iv into p's time attributes (@start/@end for wall
// clock, @startOffset/@endOffset otherwise), clearing the others.
func (p *ContentKeyPeriod) SetInterval(iv Interval) {
	p.Start, p.End, p.StartOffset, p.EndOffset, p.Duration = "", "", "", "", ""
	if iv.WallClock {
		p.Start = FormatDateTime(iv.Start)
		p.End = FormatDateTime(iv.End)
		return
	}
	p.StartOffset = FormatDuration(iv.Start)
	p.EndOffset = FormatDuration(iv.End)
}

// parseDateTime reads an xs:dateTime with a time zone (RFC 3339) as the
// time since the Unix epoch. One without a time zone names no instant.
func parseDateTime(s string) (time.Duration, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("not an xs:dateTime with a time zone (such as 2026-01-01T00:00:00Z)")
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, fmt.Errorf("year %d out of range", t.Year())
	}
	return time.Duration(t.UnixNano()), nil
}

// FormatDateTime writes the time since the Unix epoch as an xs:dateTime in
// UTC.
func FormatDateTime(d time.Duration) string {
	return time.Unix(0, int64(d)).UTC().Format(time.RFC3339Nano)
}

// xsDuration is the day-time subset of xs:duration (XML Schema Part 2
// §3.2.6): years and months have no fixed length and are refused.
var xsDuration = regexp.MustCompile(`^P(?:(\d{1,6})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,12})(?:\.(\d{1,9}))?S)?)?$`)

// ParseDuration reads a non-negative xs:duration of days, hours, minutes
// and seconds (PnDTnHnMn.nS), as CPIX 2.4 @startOffset, @endOffset and
// @duration use.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := xsDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("not an xs:duration of days, hours, minutes and seconds (such as PT30S)")
	}
	var total float64 // checked against overflow before conversion
	units := []float64{24 * 3600, 3600, 60, 1}
	for i, u := range units {
		if m[i+1] != "" {
			v, _ := strconv.ParseUint(m[i+1], 10, 64)
			total += float64(v) * u
		}
	}
	if total >= float64(math.MaxInt64/int64(time.Second)) {
		return 0, fmt.Errorf("too long")
	}
	d := time.Duration(0)
	for i, u := range units {
		if m[i+1] != "" {
			v, _ := strconv.ParseInt(m[i+1], 10, 64)
			d += time.Duration(v) * time.Duration(u) * time.Second
		}
	}
	if frac := m[5]; frac != "" {
		ns, _ := strconv.ParseInt((frac + "00000000")[:9], 10, 64)
		d += time.Duration(ns)
	}
	return d, nil
}

// FormatDuration writes a non-negative duration as an xs:duration in
// seconds (PT30S, PT1.5S).
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := d / time.Second
	ns := d % time.Second
	if ns == 0 {
		return fmt.Sprintf("PT%dS", sec)
	}
	return "PT" + strings.TrimRight(fmt.Sprintf("%d.%09d", sec, ns), "0") + "S"
}
