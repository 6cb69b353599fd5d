package verify

import (
	"strings"
	"testing"
)

func box(typ string, body ...string) string {
	b := strings.Join(body, "")
	n := 8 + len(b)
	return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + typ + b
}

// TestValidateWvtt: ISO/IEC 14496-30 §7.4 sample shapes.
func TestValidateWvtt(t *testing.T) {
	cue := box("vttc", box("payl", "hi"))
	for _, tc := range []struct {
		name, sample string
		ok           bool
	}{
		{"empty cue box", box("vtte"), true},
		{"one cue", cue, true},
		{"two cues", cue + box("vttc", box("iden", "1"), box("sttg", "line:0"), box("payl", "x")), true},
		{"nothing", "", false},
		{"cue without payl", box("vttc", box("iden", "1")), false},
		{"vtte with a cue", box("vtte") + cue, false},
		{"other box", box("free"), false},
		{"truncated", cue[:len(cue)-1], false},
		{"trailing bytes", cue + "xx", false},
	} {
		if msg := validateWvtt([]byte(tc.sample)); (msg == "") != tc.ok {
			t.Errorf("%s: validateWvtt = %q, want ok=%v", tc.name, msg, tc.ok)
		}
	}
}
