package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
)

// APIKeys returns the API key store kept in this database (table api_keys,
// migration 00002). The token logic is package apikey's; this package only
// stores rows, so every SQL statement and the schema stay in one place.
func (s *Store) APIKeys() *apikey.Store { return apikey.New(apiKeyTable{s.db}) }

// apiKeyTable implements apikey.Backend on the api_keys table.
type apiKeyTable struct{ db *sql.DB }

var _ apikey.Backend = apiKeyTable{}

const apiKeyColumns = "id, name, scopes, secret_sha256, created_at, last_used_at, revoked_at"

func (t apiKeyTable) InsertAPIKey(ctx context.Context, r apikey.Record) error {
	_, err := t.db.ExecContext(ctx, "INSERT INTO api_keys ("+apiKeyColumns+") VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
		r.ID, r.Name, apikey.FormatScopes(r.Scopes), r.SecretHash.Hex(), r.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlstore: insert API key %s: %w", r.ID, err)
	}
	return nil
}

func scanAPIKey(sc interface{ Scan(...any) error }) (apikey.Record, error) {
	var (
		r                   apikey.Record
		scopes, hash        string
		created             int64
		lastUsed, revokedAt sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Name, &scopes, &hash, &created, &lastUsed, &revokedAt); err != nil {
		return r, err
	}
	var err error
	if r.Scopes, err = apikey.ParseScopes(scopes); err != nil {
		return r, fmt.Errorf("%w: API key %s: %w", ErrCorruptRow, r.ID, err)
	}
	if r.SecretHash, err = apikey.ParseSecretHash(hash); err != nil {
		return r, fmt.Errorf("%w: API key %s: %w", ErrCorruptRow, r.ID, err)
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	if lastUsed.Valid {
		r.LastUsedAt = time.UnixMicro(lastUsed.Int64).UTC()
	}
	if revokedAt.Valid {
		r.RevokedAt = time.UnixMicro(revokedAt.Int64).UTC()
	}
	return r, nil
}

func (t apiKeyTable) LookupAPIKey(ctx context.Context, id string) (apikey.Record, error) {
	r, err := scanAPIKey(t.db.QueryRowContext(ctx, "SELECT "+apiKeyColumns+" FROM api_keys WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.Record{}, fmt.Errorf("%w: API key %s", apikey.ErrNotFound, id)
	}
	if err != nil {
		return apikey.Record{}, fmt.Errorf("sqlstore: API key %s: %w", id, err)
	}
	return r, nil
}

func (t apiKeyTable) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if _, err := t.db.ExecContext(ctx, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2", at.UnixMicro(), id); err != nil {
		return fmt.Errorf("sqlstore: touch API key %s: %w", id, err)
	}
	return nil
}

func (t apiKeyTable) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := t.db.QueryContext(ctx, "SELECT "+apiKeyColumns+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
	}
	defer rows.Close()
	var out []apikey.Key
	for rows.Next() {
		r, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
		}
		out = append(out, r.Key)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list API keys: %w", err)
	}
	return out, nil
}

func (t apiKeyTable) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := t.db.ExecContext(ctx, "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke API key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	var one int
	err = t.db.QueryRowContext(ctx, "SELECT 1 FROM api_keys WHERE id = $1", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: API key %s", apikey.ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: revoke API key %s: %w", id, err)
	}
	return nil // already revoked
}
