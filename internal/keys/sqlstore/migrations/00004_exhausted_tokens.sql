-- Playback tokens (by the SHA-256 of issuer and jti) that used up their
-- license requests (policy max_uses),
-- kept until the token expires: the durable record that stops an exhausted
-- token from working again while Redis (where uses are counted) is down.
-- expires_at is in Unix microseconds.

-- +goose Up
CREATE TABLE IF NOT EXISTS exhausted_tokens (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS exhausted_tokens;
