-- The audit log's retention policy deletes old access and refusal rows by
-- action and time (Store.PruneAudit) in small batches: this index finds
-- each batch without scanning the rows that are kept (revocations, admin
-- actions). Common to SQLite and PostgreSQL.

-- +goose Up
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, at);

-- +goose Down
DROP INDEX IF EXISTS audit_log_action;
