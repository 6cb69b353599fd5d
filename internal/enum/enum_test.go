package enum

import "testing"

type color uint8

const (
	red color = iota + 1
	green
)

var colorNames = Names[color]{red: "red", green: "Green"}

func TestNames(t *testing.T) {
	if got := colorNames.String(green); got != "Green" {
		t.Errorf("String(green) = %q", got)
	}
	if got := colorNames.String(7); got != "color(7)" {
		t.Errorf("String(7) = %q, want color(7)", got)
	}
	for _, tc := range []struct {
		in          string
		parse, look color
	}{
		{"red", red, red},
		{" RED\t", red, 0},
		{"green", green, 0},
		{"Green", green, green},
		{"", 0, 0},
		{"blue", 0, 0},
	} {
		v, ok := colorNames.Parse(tc.in)
		if v != tc.parse || ok != (tc.parse != 0) {
			t.Errorf("Parse(%q) = %v %v, want %v", tc.in, v, ok, tc.parse)
		}
		v, ok = colorNames.Lookup(tc.in)
		if v != tc.look || ok != (tc.look != 0) {
			t.Errorf("Lookup(%q) = %v %v, want %v", tc.in, v, ok, tc.look)
		}
	}
}
