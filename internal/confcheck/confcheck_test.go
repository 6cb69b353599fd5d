package confcheck

import (
	"testing"
	"time"
)

func TestPositiveOr(t *testing.T) {
	for _, c := range []struct {
		v, def, want time.Duration
	}{
		{0, time.Second, time.Second},
		{-time.Nanosecond, time.Second, time.Second},
		{time.Nanosecond, time.Second, time.Nanosecond},
		{time.Hour, time.Second, time.Hour},
	} {
		if got := PositiveOr(c.v, c.def); got != c.want {
			t.Errorf("PositiveOr(%v, %v) = %v, want %v", c.v, c.def, got, c.want)
		}
	}
	if got := PositiveOr(-3, 7); got != 7 {
		t.Errorf("PositiveOr(-3, 7) = %d, want 7", got)
	}
	if got := PositiveOr(0.5, 2.0); got != 0.5 {
		t.Errorf("PositiveOr(0.5, 2) = %v, want 0.5", got)
	}
}
