-- Live channels (drmpipe channel create): the name is the channel's
-- content ID; spec holds its settings as JSON (segment duration, key
-- period, window, scheme, DRM systems, keying), owned by internal/live.
-- created_at is in Unix microseconds.

-- +goose Up
CREATE TABLE IF NOT EXISTS live_channels (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS live_channels;
