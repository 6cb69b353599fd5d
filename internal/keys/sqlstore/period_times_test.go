package sqlstore

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// TestPeriodTimes: the store records the time each key period covers; the
// same times again are accepted, and times that contradict the record
// (another range for the period, an overlap, indexes out of time order,
// wall clock mixed with media time) give ErrPeriodConflict and change
// nothing.
func TestPeriodTimes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := open(t, b).store
		ctx := context.Background()
		p := func(n uint32, start, end time.Duration) keys.PeriodTimes {
			return keys.PeriodTimes{Period: n, Start: start * time.Second, End: end * time.Second}
		}
		for _, rec := range []keys.PeriodTimes{p(1, 4, 8), p(0, 0, 4), p(1, 4, 8), p(3, 12, 16)} {
			if err := s.RecordPeriodTimes(ctx, "vod", rec); err != nil {
				t.Fatalf("record %+v: %v", rec, err)
			}
		}
		for _, bad := range []keys.PeriodTimes{
			p(1, 4, 9),   // another range for period 1
			p(2, 7, 12),  // overlaps period 1
			p(2, 16, 20), // after period 3
			p(4, 10, 11), // index 4 before period 3's start
			{Period: 2, WallClock: true, Start: 8 * time.Second, End: 12 * time.Second},
		} {
			if err := s.RecordPeriodTimes(ctx, "vod", bad); !errors.Is(err, keys.ErrPeriodConflict) {
				t.Errorf("record %+v: %v, want ErrPeriodConflict", bad, err)
			}
		}
		if err := s.RecordPeriodTimes(ctx, "vod", p(5, 3, 3)); !errors.Is(err, keys.ErrInvalidRequest) {
			t.Errorf("empty range: %v", err)
		}
		got, err := s.ListPeriodTimes(ctx, "vod")
		if err != nil {
			t.Fatal(err)
		}
		if want := []keys.PeriodTimes{p(0, 0, 4), p(1, 4, 8), p(3, 12, 16)}; !reflect.DeepEqual(got, want) {
			t.Errorf("recorded %+v, want %+v", got, want)
		}

		// Periods given by time alone are numbered after the last one.
		for _, c := range []struct {
			times keys.PeriodTimes
			want  uint32
		}{{p(0, 16, 20), 4}, {p(0, 20, 24), 5}, {p(0, 4, 8), 1}, {p(0, 16, 20), 4}} {
			if got, err := s.PeriodIndexFor(ctx, "vod", c.times); err != nil || got != c.want {
				t.Errorf("PeriodIndexFor(%+v) = %d, %v; want %d", c.times, got, err, c.want)
			}
		}
		for _, bad := range []keys.PeriodTimes{p(0, 22, 30), p(0, 9, 11), {WallClock: true, Start: 100 * time.Second, End: 104 * time.Second}} {
			if _, err := s.PeriodIndexFor(ctx, "vod", bad); !errors.Is(err, keys.ErrPeriodConflict) {
				t.Errorf("PeriodIndexFor(%+v): %v, want ErrPeriodConflict", bad, err)
			}
		}
		if got, err := s.PeriodIndexFor(ctx, "fresh", p(0, 30, 60)); err != nil || got != 0 {
			t.Errorf("first period of a content: %d, %v", got, err)
		}
		// Another content's periods are its own.
		if err := s.RecordPeriodTimes(ctx, "other", p(1, 0, 100)); err != nil {
			t.Errorf("other content: %v", err)
		}
	})
}
