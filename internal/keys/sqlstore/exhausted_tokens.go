package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// pruneExhaustedEvery is how many marks pass between deletions of expired
// rows (bounded batches, so neither database holds a long lock).
const pruneExhaustedEvery = 256

// tokenRowID is the row key of token id: its SHA-256 in hex (ids may hold
// bytes PostgreSQL text refuses, such as NUL, and need not be stored).
func tokenRowID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// MarkTokenExhausted records that token id has used up its license
// requests until until (its expiry).
func (s *Store) MarkTokenExhausted(ctx context.Context, id string, until time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO exhausted_tokens (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, tokenRowID(id), until.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlstore: mark token exhausted: %w", err)
	}
	if s.exhaustedMarks.Add(1)%pruneExhaustedEvery == 0 {
		_, _ = s.db.ExecContext(ctx, `DELETE FROM exhausted_tokens WHERE id IN
			(SELECT id FROM exhausted_tokens WHERE expires_at < $1 LIMIT 1000)`, time.Now().UnixMicro())
	}
	return nil
}

// TokenExhausted reports whether token id is recorded as exhausted at now.
func (s *Store) TokenExhausted(ctx context.Context, id string, now time.Time) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM exhausted_tokens WHERE id = $1 AND expires_at > $2`, tokenRowID(id), now.UnixMicro()).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("sqlstore: token exhausted: %w", err)
}
