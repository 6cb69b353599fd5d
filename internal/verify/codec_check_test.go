package verify

import "testing"

// TestLongBands checks num_swb_long_window at and between the sampling
// rates of ISO/IEC 14496-3 §4.5.4, Tables 4.129–4.138 (the bounds of the
// max_sfb check on an AAC ICS).
func TestLongBands(t *testing.T) {
	for _, tc := range []struct{ rate, want int }{
		{96000, 41}, {88200, 41},
		{64000, 47},
		{48000, 49}, {44100, 49},
		{32000, 51}, {44099, 51},
		{24000, 47}, {22050, 47},
		{16000, 43}, {12000, 43}, {11025, 43},
		{8000, 40}, {11024, 40},
		{7350, 0}, {0, 0},
	} {
		if got := longBands(tc.rate); got != tc.want {
			t.Errorf("longBands(%d) = %d, want %d", tc.rate, got, tc.want)
		}
	}
}
