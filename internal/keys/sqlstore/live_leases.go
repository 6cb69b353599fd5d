package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is a live channel's lease: the replica that packages the channel,
// until when, and the fencing token of its acquisition (the "fencing
// token" of a lock service: a number that grows with every change of
// holder, checked by the storage on every write).
type Lease struct {
	Channel string
	Holder  string
	Fence   int64
	Expires time.Time
	// State is the channel state last written under a fence (nil before
	// the first write).
	State []byte
}

// AcquireLease gives holder the lease on channel until now+ttl: a channel
// no one holds, a lease that expired, or one holder itself held (a
// restarted replica). Every acquisition gets the next fencing token, so a
// holder that lost the lease can no longer write (SaveLeaseState). A lease
// another holder keeps gives an error wrapping ErrLeaseHeld together with
// that lease (its holder and expiry; no state).
//
// Expiry is on the holders' clocks: replicas need clocks within a small
// part of the TTL of each other. Correctness does not depend on clocks,
// only on the fence.
func (s *Store) AcquireLease(ctx context.Context, channel, holder string, now time.Time, ttl time.Duration) (Lease, error) {
	l := Lease{Channel: channel, Holder: holder, Expires: now.Add(ttl)}
	var state sql.NullString
	err := s.db.QueryRowContext(ctx, `INSERT INTO live_leases (channel, holder, fence, expires_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (channel) DO UPDATE SET holder = excluded.holder, fence = live_leases.fence + 1, expires_at = excluded.expires_at
		WHERE live_leases.expires_at <= $4 OR live_leases.holder = excluded.holder
		RETURNING fence, state`, channel, holder, l.Expires.UnixMicro(), now.UnixMicro()).Scan(&l.Fence, &state)
	if err == nil {
		if state.Valid {
			l.State = []byte(state.String)
		}
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("sqlstore: acquire lease of channel %q: %w", channel, err)
	}
	var expires int64
	err = s.db.QueryRowContext(ctx, `SELECT holder, fence, expires_at FROM live_leases WHERE channel = $1`, channel).Scan(&l.Holder, &l.Fence, &expires)
	if err != nil {
		return Lease{}, fmt.Errorf("sqlstore: lease of channel %q: %w", channel, err)
	}
	l.Expires = time.UnixMicro(expires).UTC()
	return l, fmt.Errorf("%w: channel %q by %q until %s", ErrLeaseHeld, channel, l.Holder, l.Expires.Format(time.RFC3339Nano))
}

// RenewLease extends the lease of fence to now+ttl. A lease taken over
// since gives ErrLeaseLost.
func (s *Store) RenewLease(ctx context.Context, channel string, fence int64, now time.Time, ttl time.Duration) error {
	return s.fenced(ctx, channel, fence, "renew lease", `UPDATE live_leases SET expires_at = $3 WHERE channel = $1 AND fence = $2`, now.Add(ttl).UnixMicro())
}

// ReleaseLease ends the lease of fence at once, so another replica may take
// the channel without waiting for the expiry. A lease taken over since
// gives ErrLeaseLost.
func (s *Store) ReleaseLease(ctx context.Context, channel string, fence int64) error {
	return s.fenced(ctx, channel, fence, "release lease", `UPDATE live_leases SET expires_at = 0 WHERE channel = $1 AND fence = $2`)
}

// SaveLeaseState writes channel's state under fence: refused with
// ErrLeaseLost when fence is no longer the lease's (a conditional UPDATE,
// so a holder that paused past its expiry cannot overwrite its successor's
// state).
func (s *Store) SaveLeaseState(ctx context.Context, channel string, fence int64, state []byte) error {
	return s.fenced(ctx, channel, fence, "save channel state", `UPDATE live_leases SET state = $3 WHERE channel = $1 AND fence = $2`, string(state))
}

// fenced runs an UPDATE of channel's lease row conditional on fence.
func (s *Store) fenced(ctx context.Context, channel string, fence int64, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, append([]any{channel, fence}, args...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: %s of channel %q: %w", what, channel, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: channel %q fence %d", ErrLeaseLost, channel, fence)
	}
	return nil
}
