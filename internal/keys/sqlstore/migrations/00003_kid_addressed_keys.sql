-- KID-addressed keys (keys.Store GetOrCreateKID): a SPEKE encryptor chooses
-- the KID and gets the key of exactly that KID. origin tells who chose a
-- row's KID: 'slot' (the store, GetOrCreate) or 'kid' (the caller). Slot
-- uniqueness, one active key per (content ID, track type, period), now
-- applies to slot keys only, so KID-addressed keys recorded with the same
-- track type and period coexist with the slot key. KID-addressed keys are
-- unique by the primary key (kid) alone. Existing rows are slot keys.

-- +goose Up
ALTER TABLE content_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'slot' CHECK (origin IN ('slot', 'kid'));

DROP INDEX IF EXISTS content_keys_active_slot;

CREATE UNIQUE INDEX IF NOT EXISTS content_keys_active_slot_key
    ON content_keys (content_id, track_type, period) WHERE state = 'active' AND origin = 'slot';

-- +goose Down
-- Going down forgets which keys were KID-addressed. It fails (and changes
-- nothing) when an active KID-addressed key shares a slot with another
-- active key: keys are never deleted to make a migration fit.
DROP INDEX IF EXISTS content_keys_active_slot_key;

CREATE UNIQUE INDEX IF NOT EXISTS content_keys_active_slot
    ON content_keys (content_id, track_type, period) WHERE state = 'active';

ALTER TABLE content_keys DROP COLUMN origin;
