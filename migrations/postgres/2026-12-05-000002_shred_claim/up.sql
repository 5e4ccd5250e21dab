-- The retention sweeper claims reports whose reporter's erase waited for a legal hold through
-- this index, as it claims those due by status through reports_retention (SPEC §13).
CREATE INDEX reports_erase_pending ON reports (erase_requested_at)
    WHERE erase_requested_at IS NOT NULL AND shredded_at IS NULL;
