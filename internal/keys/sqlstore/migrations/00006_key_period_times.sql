-- The media time each key period of a content covers, as SPEKE v2.1
-- encryptors give it (CPIX 2.4 ContentKeyPeriod @start/@end, wall clock, or
-- @startOffset/@endOffset, media time): keys stay addressed by (content ID,
-- track type, period); this records what time a period index stands for.
-- Times are nanoseconds (since the Unix epoch when wall_clock is 1).

-- +goose Up
CREATE TABLE IF NOT EXISTS key_period_times (
    content_id TEXT   NOT NULL CHECK (length(content_id) BETWEEN 1 AND 256),
    period     BIGINT NOT NULL CHECK (period BETWEEN 0 AND 4294967295),
    wall_clock BIGINT NOT NULL CHECK (wall_clock IN (0, 1)),
    start_ns   BIGINT NOT NULL,
    end_ns     BIGINT NOT NULL CHECK (end_ns > start_ns),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (content_id, period)
);

-- +goose Down
DROP TABLE IF EXISTS key_period_times;
