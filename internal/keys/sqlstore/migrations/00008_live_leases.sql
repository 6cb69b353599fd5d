-- Live channel leases: the one replica that packages a channel holds its
-- row. holder is the replica ID, expires_at (Unix microseconds, the
-- holder's clock) ends the lease unless renewed, and fence is the fencing
-- token: it grows by one at every acquisition, and every write of the
-- channel's state (state, the live package's JSON) is conditional on it,
-- so a holder that lost the lease cannot overwrite its successor's.

-- +goose Up
CREATE TABLE IF NOT EXISTS live_leases (
    channel TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    fence BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT
);

-- +goose Down
DROP TABLE IF EXISTS live_leases;
