package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys"
)

var _ keys.PeriodTimesStore = (*Store)(nil)

// RecordPeriodTimes implements keys.PeriodTimesStore. The first record of
// a period wins (INSERT ... ON CONFLICT DO NOTHING, then read); a record
// that, once in, finds a conflicting period of the content (two writers
// racing with overlapping ranges) is taken out again, so at most the
// consistent ones stay.
func (s *Store) RecordPeriodTimes(ctx context.Context, contentID string, p keys.PeriodTimes) error {
	if err := keys.ValidateContentID(contentID); err != nil {
		return fmt.Errorf("%w: %w", keys.ErrInvalidRequest, err)
	}
	if p.End <= p.Start {
		return fmt.Errorf("%w: key period %d ends at or before its start", keys.ErrInvalidRequest, p.Period)
	}
	wc := 0
	if p.WallClock {
		wc = 1
	}
	if err := s.periodConflict(ctx, contentID, p, wc); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO key_period_times (content_id, period, wall_clock, start_ns, end_ns, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		contentID, int64(p.Period), wc, int64(p.Start), int64(p.End), time.Now().UTC().UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlstore: record key period %d of %q: %w", p.Period, contentID, err)
	}
	inserted, _ := res.RowsAffected()
	var got keys.PeriodTimes
	var gotWC, start, end int64
	err = s.db.QueryRowContext(ctx, `SELECT wall_clock, start_ns, end_ns FROM key_period_times WHERE content_id = $1 AND period = $2`,
		contentID, int64(p.Period)).Scan(&gotWC, &start, &end)
	if err != nil {
		return fmt.Errorf("sqlstore: read key period %d of %q: %w", p.Period, contentID, err)
	}
	got = keys.PeriodTimes{Period: p.Period, WallClock: gotWC == 1, Start: time.Duration(start), End: time.Duration(end)}
	if got != p {
		return fmt.Errorf("%w: key period %d of %q is recorded as [%s, %s), not [%s, %s)", keys.ErrPeriodConflict, p.Period, contentID, got.Start, got.End, p.Start, p.End)
	}
	if inserted == 1 {
		if err := s.periodConflict(ctx, contentID, p, wc); err != nil {
			_, _ = s.db.ExecContext(ctx, `DELETE FROM key_period_times WHERE content_id = $1 AND period = $2`, contentID, int64(p.Period))
			return err
		}
	}
	return nil
}

// periodConflict finds another recorded period of contentID whose range
// overlaps p's, whose kind (wall clock or media time) differs, or whose
// index order disagrees with its start time.
func (s *Store) periodConflict(ctx context.Context, contentID string, p keys.PeriodTimes, wc int) error {
	var other int64
	err := s.db.QueryRowContext(ctx, `SELECT period FROM key_period_times WHERE content_id = $1 AND period <> $2 AND (
			wall_clock <> $3
			OR (start_ns < $5 AND $4 < end_ns)
			OR (period < $2 AND start_ns > $4)
			OR (period > $2 AND start_ns < $4)
		) ORDER BY period LIMIT 1`, contentID, int64(p.Period), wc, int64(p.Start), int64(p.End)).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("sqlstore: check key period %d of %q: %w", p.Period, contentID, err)
	}
	return fmt.Errorf("%w: key period %d of %q overlaps, or is out of order with, recorded period %d", keys.ErrPeriodConflict, p.Period, contentID, other)
}

// PeriodIndexFor implements keys.PeriodTimesStore. Two writers numbering
// new periods at once race on the primary key: the loser sees the
// winner's row on its next round and takes the index after it (or the
// winner's, for the same times).
func (s *Store) PeriodIndexFor(ctx context.Context, contentID string, p keys.PeriodTimes) (uint32, error) {
	wc := 0
	if p.WallClock {
		wc = 1
	}
	var last error
	for range maxAttempts {
		var period int64
		err := s.db.QueryRowContext(ctx, `SELECT period FROM key_period_times WHERE content_id = $1 AND wall_clock = $2 AND start_ns = $3 AND end_ns = $4`,
			contentID, wc, int64(p.Start), int64(p.End)).Scan(&period)
		if err == nil {
			return uint32(period), nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("sqlstore: find key period of %q: %w", contentID, err)
		}
		var lastEnd int64
		next := int64(0)
		err = s.db.QueryRowContext(ctx, `SELECT period, end_ns FROM key_period_times WHERE content_id = $1 ORDER BY period DESC LIMIT 1`,
			contentID).Scan(&period, &lastEnd)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return 0, fmt.Errorf("sqlstore: last key period of %q: %w", contentID, err)
		case int64(p.Start) < lastEnd:
			return 0, fmt.Errorf("%w: a key period of %q without an index must start at or after the end of the last recorded period %d", keys.ErrPeriodConflict, contentID, period)
		case period >= 1<<32-1:
			return 0, fmt.Errorf("%w: key period indexes of %q are used up", keys.ErrPeriodConflict, contentID)
		default:
			next = period + 1
		}
		p.Period = uint32(next)
		if last = s.RecordPeriodTimes(ctx, contentID, p); last == nil {
			return p.Period, nil
		}
		if !errors.Is(last, keys.ErrPeriodConflict) {
			return 0, last
		}
	}
	return 0, last
}

// ListPeriodTimes implements keys.PeriodTimesStore.
func (s *Store) ListPeriodTimes(ctx context.Context, contentID string) ([]keys.PeriodTimes, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT period, wall_clock, start_ns, end_ns FROM key_period_times WHERE content_id = $1 ORDER BY period`, contentID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list key periods of %q: %w", contentID, err)
	}
	defer rows.Close()
	var out []keys.PeriodTimes
	for rows.Next() {
		var period, wc, start, end int64
		if err := rows.Scan(&period, &wc, &start, &end); err != nil {
			return nil, fmt.Errorf("sqlstore: list key periods of %q: %w", contentID, err)
		}
		out = append(out, keys.PeriodTimes{Period: uint32(period), WallClock: wc == 1, Start: time.Duration(start), End: time.Duration(end)})
	}
	return out, rows.Err()
}
