-- Content keys under envelope encryption: wrapped_key is the content key
-- wrapped by the KMS named in kms, under the KEK version key_ref. No column
-- ever holds a clear key. Types and syntax are common to SQLite and
-- PostgreSQL: text, bigint (times are Unix microseconds, UTC), partial index.

-- +goose Up
CREATE TABLE IF NOT EXISTS content_keys (
    kid         TEXT   NOT NULL PRIMARY KEY CHECK (length(kid) = 32),
    content_id  TEXT   NOT NULL CHECK (length(content_id) BETWEEN 1 AND 256),
    track_type  TEXT   NOT NULL CHECK (track_type IN ('ALL', 'AUDIO', 'SD', 'HD', 'UHD1', 'UHD2')),
    period      BIGINT NOT NULL CHECK (period BETWEEN 0 AND 4294967295),
    state       TEXT   NOT NULL CHECK (state IN ('active', 'revoked')),
    wrapped_key TEXT   NOT NULL,
    key_ref     TEXT   NOT NULL,
    kms         TEXT   NOT NULL,
    iv          TEXT,
    created_at  BIGINT NOT NULL,
    rotated_at  BIGINT,
    revoked_at  BIGINT
);

-- At most one active key per slot: concurrent get-or-create converges on it.
CREATE UNIQUE INDEX IF NOT EXISTS content_keys_active_slot
    ON content_keys (content_id, track_type, period) WHERE state = 'active';

CREATE INDEX IF NOT EXISTS content_keys_content ON content_keys (content_id);

-- +goose Down
DROP TABLE IF EXISTS content_keys;
