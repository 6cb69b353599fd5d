package cpix

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// periodCases is the table of ContentKeyPeriod forms (CPIX 2.4 §"ContentKeyPeriod
// Element": index only, @start+@end, @start+@duration, @startOffset+@endOffset,
// @startOffset+@duration) and of combinations it does not allow.
var periodCases = []struct {
	name    string
	attrs   string
	want    Interval
	timed   bool
	mention string // non-empty: an error naming this
}{
	{name: "index only", attrs: `index="3"`},
	{name: "start end", attrs: `start="2026-01-01T00:00:30Z" end="2026-01-01T00:01:00Z"`, timed: true,
		want: Interval{WallClock: true, Start: dur("2026-01-01T00:00:30Z"), End: dur("2026-01-01T00:01:00Z")}},
	{name: "start duration", attrs: `index="1" start="2026-01-01T00:00:30+01:00" duration="PT30S"`, timed: true,
		want: Interval{WallClock: true, Start: dur("2025-12-31T23:00:30Z"), End: dur("2025-12-31T23:01:00Z")}},
	{name: "offsets", attrs: `startOffset="PT4S" endOffset="PT8.5S"`, timed: true,
		want: Interval{Start: 4 * time.Second, End: 8500 * time.Millisecond}},
	{name: "offset duration", attrs: `startOffset="P1DT1H" duration="PT1M"`, timed: true,
		want: Interval{Start: 25 * time.Hour, End: 25*time.Hour + time.Minute}},
	{name: "start without end", attrs: `start="2026-01-01T00:00:30Z"`, mention: "without @end"},
	{name: "end without start", attrs: `end="2026-01-01T00:00:30Z"`, mention: "without @start"},
	{name: "both starts", attrs: `start="2026-01-01T00:00:30Z" startOffset="PT0S" end="2026-01-01T00:01:00Z"`, mention: "both @start and @startOffset"},
	{name: "end and duration", attrs: `start="2026-01-01T00:00:30Z" end="2026-01-01T00:01:00Z" duration="PT30S"`, mention: "both @end and @duration"},
	{name: "mixed forms", attrs: `startOffset="PT0S" end="2026-01-01T00:01:00Z"`, mention: "@end with @startOffset"},
	{name: "no time zone", attrs: `start="2026-01-01T00:00:30" end="2026-01-01T00:01:00Z"`, mention: "@start"},
	{name: "end before start", attrs: `startOffset="PT8S" endOffset="PT4S"`, mention: "ends at or before its start"},
	{name: "empty interval", attrs: `startOffset="PT8S" duration="PT0S"`, mention: "ends at or before its start"},
	{name: "months", attrs: `startOffset="P1M" endOffset="P2M"`, mention: "@startOffset"},
	{name: "negative", attrs: `startOffset="-PT1S" endOffset="PT2S"`, mention: "@startOffset"},
	{name: "bare T", attrs: `startOffset="PT" endOffset="PT2S"`, mention: "@startOffset"},
}

func dur(s string) time.Duration {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return time.Duration(t.UnixNano())
}

func TestContentKeyPeriodInterval(t *testing.T) {
	for _, c := range periodCases {
		t.Run(c.name, func(t *testing.T) {
			doc := `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="c" version="2.4"><cpix:ContentKeyPeriodList>` +
				`<cpix:ContentKeyPeriod id="p" ` + c.attrs + `/></cpix:ContentKeyPeriodList></cpix:CPIX>`
			d, err := Unmarshal([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			iv, timed, err := d.ContentKeyPeriods[0].Interval()
			if c.mention != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), `"p"`) {
					t.Fatalf("error %v, want ErrInvalid naming period \"p\" and %q", err, c.mention)
				}
				return
			}
			if err != nil || timed != c.timed || iv != c.want {
				t.Fatalf("Interval() = %+v, %v, %v; want %+v, %v", iv, timed, err, c.want, c.timed)
			}
			// Marshal echoes the attributes as written.
			if d2 := remarshal(t, d); !reflect.DeepEqual(d.ContentKeyPeriods, d2.ContentKeyPeriods) {
				t.Errorf("round trip %+v != %+v", d.ContentKeyPeriods, d2.ContentKeyPeriods)
			}
		})
	}
}

// remarshal is Unmarshal(Marshal(d)).
func remarshal(t *testing.T, d *Document) *Document {
	t.Helper()
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Unmarshal(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	return d2
}

func TestSetInterval(t *testing.T) {
	for _, iv := range []Interval{
		{Start: 0, End: 30 * time.Second},
		{Start: 1500 * time.Millisecond, End: 61*time.Second + time.Nanosecond},
		{WallClock: true, Start: dur("2026-03-01T10:00:00Z"), End: dur("2026-03-01T10:00:30Z") + 250*time.Millisecond},
	} {
		var p ContentKeyPeriod
		p.ID = "x"
		p.SetInterval(iv)
		got, ok, err := p.Interval()
		if err != nil || !ok || got != iv {
			t.Errorf("SetInterval(%+v) -> %+v (%q %q %q %q), %v, %v", iv, got, p.Start, p.End, p.StartOffset, p.EndOffset, ok, err)
		}
	}
	if got := FormatDuration(1500 * time.Millisecond); got != "PT1.5S" {
		t.Errorf("FormatDuration(1.5s) = %s", got)
	}
}

func TestIntervalOverlaps(t *testing.T) {
	a := Interval{Start: 0, End: 10}
	for _, c := range []struct {
		b    Interval
		want bool
	}{
		{Interval{Start: 10, End: 20}, false}, // half-open: touching is fine
		{Interval{Start: 9, End: 20}, true},
		{Interval{Start: -5, End: 1}, true},
		{Interval{WallClock: true, Start: 0, End: 10}, false},
	} {
		if got := a.Overlaps(c.b); got != c.want || c.b.Overlaps(a) != c.want {
			t.Errorf("%+v overlaps %+v = %v, want %v", a, c.b, got, c.want)
		}
	}
}
