package testtools

import (
	"reflect"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

func TestAppendVTTCues(t *testing.T) {
	vttc := func(id, text string) *mp4.VttcBox {
		c := &mp4.VttcBox{Payl: &mp4.PaylBox{CueText: text}}
		if id != "" {
			c.Iden = &mp4.IdenBox{CueID: id}
		}
		return c
	}
	var cues []Cue
	var others []string
	cues, others = AppendVTTCues(cues, []mp4.Box{vttc("a", "one"), vttc("", "two")}, 0, 10)
	// "one" continues; "two" with another ID is a new cue; vtte is empty.
	cues, o2 := AppendVTTCues(cues, []mp4.Box{vttc("a", "one"), vttc("b", "two"), &mp4.VtteBox{}}, 10, 20)
	others = append(others, o2...)
	// A gap: the same cue again is a new one.
	cues, o3 := AppendVTTCues(cues, []mp4.Box{vttc("a", "one"), &mp4.FreeBox{Name: "free"}}, 25, 30)
	others = append(others, o3...)
	want := []Cue{
		{ID: "a", Text: "one", Start: 0, End: 20},
		{Text: "two", Start: 0, End: 10},
		{ID: "b", Text: "two", Start: 10, End: 20},
		{ID: "a", Text: "one", Start: 25, End: 30},
	}
	if !reflect.DeepEqual(cues, want) {
		t.Errorf("cues\n%+v\nwant\n%+v", cues, want)
	}
	if !reflect.DeepEqual(others, []string{"free"}) {
		t.Errorf("other boxes %v, want [free]", others)
	}
}
