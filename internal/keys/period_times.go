package keys

import (
	"context"
	"errors"
	"time"
)

// ErrPeriodConflict reports key period times that contradict the times
// recorded for the content: another range for a recorded period, a range
// overlapping another period, or an index order that disagrees with time.
var ErrPeriodConflict = errors.New("key period times conflict")

// PeriodTimes is the time key period Period of a content covers, [Start,
// End), as a SPEKE v2.1 encryptor gave it (CPIX 2.4 ContentKeyPeriod
// @start/@end or @startOffset/@endOffset).
type PeriodTimes struct {
	Period uint32
	// WallClock: Start and End are the time since the Unix epoch (live);
	// otherwise media time from the start of the content (VOD).
	WallClock  bool
	Start, End time.Duration
}

// PeriodTimesStore records and reads the times of key periods; the SQL
// store implements it. Period keys stay addressed by (content ID, track
// type, period index); this only records what media time each index
// covers, so that every request about a period agrees with the first.
type PeriodTimesStore interface {
	// RecordPeriodTimes records the times of p.Period of contentID, or
	// checks them against those recorded: the same times again are
	// accepted; other times for a recorded period, times overlapping
	// another period of the content, or a later period starting before an
	// earlier one give ErrPeriodConflict.
	RecordPeriodTimes(ctx context.Context, contentID string, p PeriodTimes) error
	// PeriodIndexFor returns the index of the period of contentID that
	// covers exactly p's times (p.Period is ignored), recording a new one
	// when there is none: the next index after the last recorded period,
	// which p must not start before (ErrPeriodConflict otherwise). It
	// numbers the periods of encryptors that send times without @index
	// (SPEKE v2.1, MediaPackage START_END_ONLY).
	PeriodIndexFor(ctx context.Context, contentID string, p PeriodTimes) (uint32, error)
	PeriodTimesReader
}
