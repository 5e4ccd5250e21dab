DROP INDEX login_throttle_window_started_at;
DROP TABLE rate_buckets;
