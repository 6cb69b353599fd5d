-- API keys (package apikey) and the audit log, in the same database as the
-- content keys. Only the SHA-256 of a token's secret is stored, in hex;
-- the token itself never reaches the database. Types and syntax are common
-- to SQLite and PostgreSQL (times are Unix microseconds, UTC).

-- +goose Up
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    name          TEXT   NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    scopes        TEXT   NOT NULL CHECK (length(scopes) BETWEEN 1 AND 256),
    secret_sha256 TEXT   NOT NULL CHECK (length(secret_sha256) = 64),
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

-- Append-only record of admin actions. id is random (no portable
-- autoincrement across both dialects); order is (at, id).
CREATE TABLE IF NOT EXISTS audit_log (
    id      TEXT   NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL CHECK (length(actor) BETWEEN 1 AND 256),
    action  TEXT   NOT NULL CHECK (length(action) BETWEEN 1 AND 256),
    target  TEXT   NOT NULL CHECK (length(target) <= 256),
    detail  TEXT   NOT NULL CHECK (length(detail) <= 4096)
);

CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, at);

-- +goose Down
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS api_keys;
