-- Cluster-wide token buckets of the anonymous write endpoints (SPEC §12.3): one row per bucket,
-- its level as of `updated_at`. `exhausted` is set by the first refusal after the bucket ran dry,
-- so that only that one refusal is audited.
CREATE TABLE rate_buckets (
    name TEXT PRIMARY KEY NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    exhausted BOOLEAN NOT NULL DEFAULT FALSE
);

-- Expired login-throttle rows are swept by their window's start.
CREATE INDEX login_throttle_window_started_at ON login_throttle (window_started_at);
