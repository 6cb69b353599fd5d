package enum

import (
	"errors"
	"testing"
)

type color uint8

const (
	red color = iota + 1
	green
	blue
)

var colorNames = Names[color]{blue: "blue", red: "red", green: "Green"}

var errColor = errors.New("bad color")

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
		{"cyan", 0, 0},
	} {
		v, err := colorNames.Parse(tc.in, errColor, "color")
		if v != tc.parse || (err == nil) != (tc.parse != 0) {
			t.Errorf("Parse(%q) = %v %v, want %v", tc.in, v, err, tc.parse)
		}
		v, err = colorNames.Lookup(tc.in, errColor, "")
		if v != tc.look || (err == nil) != (tc.look != 0) {
			t.Errorf("Lookup(%q) = %v %v, want %v", tc.in, v, err, tc.look)
		}
	}
}

func TestNamesError(t *testing.T) {
	_, err := colorNames.Parse("cyan", errColor, "color")
	if !errors.Is(err, errColor) || err.Error() != `bad color: color "cyan" (want red, Green or blue)` {
		t.Errorf("Parse(cyan) error = %v", err)
	}
	_, err = colorNames.Lookup("RED", errColor, "")
	if !errors.Is(err, errColor) || err.Error() != `bad color: "RED" (want red, Green or blue)` {
		t.Errorf("Lookup(RED) error = %v", err)
	}
	if got := (Names[color]{red: "red"}).Want(); got != "red" {
		t.Errorf("Want of one name = %q", got)
	}
}

func TestNamesParseList(t *testing.T) {
	got, err := colorNames.ParseList(" blue,,RED, blue ", errColor, "color")
	if err != nil || len(got) != 2 || got[0] != red || got[1] != blue {
		t.Errorf("ParseList = %v %v, want [red blue]", got, err)
	}
	if got, err := colorNames.ParseList(" , ", errColor, "color"); err != nil || len(got) != 0 {
		t.Errorf("ParseList of no names = %v %v", got, err)
	}
	if _, err := colorNames.ParseList("red,cyan", errColor, "color"); !errors.Is(err, errColor) {
		t.Errorf("ParseList with an unknown name: %v", err)
	}
}
