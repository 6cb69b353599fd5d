package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChannelRecord is one stored live channel: its name, its settings as the
// live package serialises them, and when it was created.
type ChannelRecord struct {
	Name      string
	Spec      []byte
	CreatedAt time.Time
}

// CreateChannel stores a new channel. A name already in use gives
// ErrChannelExists.
func (s *Store) CreateChannel(ctx context.Context, r ChannelRecord) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO live_channels (name, spec, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		r.Name, string(r.Spec), r.CreatedAt.UTC().UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlstore: create channel %q: %w", r.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: %q", ErrChannelExists, r.Name)
	}
	return nil
}

// Channel returns the channel name. A missing one gives ErrChannelNotFound.
func (s *Store) Channel(ctx context.Context, name string) (ChannelRecord, error) {
	var spec string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT spec, created_at FROM live_channels WHERE name = $1`, name).Scan(&spec, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ChannelRecord{}, fmt.Errorf("%w: %q", ErrChannelNotFound, name)
	}
	if err != nil {
		return ChannelRecord{}, fmt.Errorf("sqlstore: channel %q: %w", name, err)
	}
	return ChannelRecord{Name: name, Spec: []byte(spec), CreatedAt: time.UnixMicro(created).UTC()}, nil
}

// Channels returns every channel, ordered by name.
func (s *Store) Channels(ctx context.Context) ([]ChannelRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, spec, created_at FROM live_channels ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list channels: %w", err)
	}
	defer rows.Close()
	var out []ChannelRecord
	for rows.Next() {
		var r ChannelRecord
		var spec string
		var created int64
		if err := rows.Scan(&r.Name, &spec, &created); err != nil {
			return nil, fmt.Errorf("sqlstore: list channels: %w", err)
		}
		r.Spec, r.CreatedAt = []byte(spec), time.UnixMicro(created).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteChannel removes a channel and its lease and state (its keys stay
// in the store, like any content's). A missing one gives
// ErrChannelNotFound.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM live_channels WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("sqlstore: delete channel %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: %q", ErrChannelNotFound, name)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM live_leases WHERE channel = $1`, name); err != nil {
		return fmt.Errorf("sqlstore: delete lease of channel %q: %w", name, err)
	}
	return nil
}
