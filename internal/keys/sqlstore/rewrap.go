package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// RewrapBatch is how many keys Rewrap re-wraps per transaction.
const RewrapBatch = 100

// Rewrap re-wraps every key (active and revoked) that is not under the KMS's
// current KEK version, so old KEK versions can be retired after a rotation.
// It works in batches of RewrapBatch: KMS calls happen outside any
// transaction, and each batch commits in a short write transaction whose
// updates only apply to rows still holding the wrapped bytes that were read,
// so concurrent readers, get-or-create and another Rewrap keep working. It
// returns the number of keys re-wrapped.
func (s *Store) Rewrap(ctx context.Context) (int, error) {
	current := "" // unknown: re-wrap everything once
	if v, ok := s.w.(kms.Versioned); ok {
		ref, err := v.CurrentKeyRef(ctx)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: rewrap: %w", err)
		}
		current = ref
	}
	total, cursor := 0, ""
	for {
		batch, err := s.rewrapBatch(ctx, cursor, current)
		if err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		n, err := s.commitRewrap(ctx, batch)
		total += n
		if err != nil {
			return total, err
		}
		cursor = batch[len(batch)-1].kid
	}
}

type rewrapped struct {
	kid, oldWrapped, newWrapped, newRef string
}

func (s *Store) rewrapBatch(ctx context.Context, cursor, current string) ([]rewrapped, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+keyColumns+" FROM content_keys WHERE kid > $1 AND key_ref <> $2 ORDER BY kid LIMIT $3",
		cursor, current, RewrapBatch)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: rewrap: %w", err)
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := r.scan(rows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: rewrap: %w", err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: rewrap: %w", err)
	}
	out := make([]rewrapped, 0, len(rs))
	for i := range rs {
		r := &rs[i]
		kid, err := drm.ParseKeyID(r.kid)
		if err != nil {
			return nil, fmt.Errorf("%w: kid: %w", ErrCorruptRow, err)
		}
		key, err := s.unwrap(ctx, r, kid)
		if err != nil {
			return nil, err
		}
		w, ref, err := s.w.Wrap(ctx, kid, r.contentID, key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: rewrap KID %s: %w", kid, err)
		}
		out = append(out, rewrapped{kid: r.kid, oldWrapped: r.wrapped, newWrapped: base64.StdEncoding.EncodeToString(w), newRef: ref})
	}
	return out, nil
}

func (s *Store) commitRewrap(ctx context.Context, batch []rewrapped) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: rewrap: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	now := time.Now().UTC().UnixMicro()
	n := 0
	for _, b := range batch {
		res, err := tx.ExecContext(ctx,
			"UPDATE content_keys SET wrapped_key = $1, key_ref = $2, kms = $3, rotated_at = $4 WHERE kid = $5 AND wrapped_key = $6",
			b.newWrapped, b.newRef, s.w.Name(), now, b.kid, b.oldWrapped)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: rewrap KID %s: %w", b.kid, err)
		}
		if c, err := res.RowsAffected(); err == nil {
			n += int(c)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlstore: rewrap commit: %w", err)
	}
	return n, nil
}
