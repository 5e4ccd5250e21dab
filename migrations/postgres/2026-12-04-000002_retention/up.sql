-- Withdrawal, receipts, shredding and retention (SPEC §13).
-- status_changed_at starts a report's retention clock; shredded_at marks a tombstone (content,
-- key, messages and notes destroyed); legal_hold_at on a report or its case stops shredding;
-- erase_requested_at is a reporter's withdrawal with erase that waits for a hold to be lifted.
-- Rows from before SPEC §14 may still name their owner until the upgrade at start clears them,
-- so the check that keeps reporter_id empty (NOT VALID: new rows only) is set aside for the copy.
ALTER TABLE reports ADD COLUMN status_changed_at TIMESTAMP;
ALTER TABLE reports DROP CONSTRAINT reports_reporter_id_unused;
UPDATE reports SET status_changed_at = updated_at;
ALTER TABLE reports ADD CONSTRAINT reports_reporter_id_unused CHECK (reporter_id IS NULL) NOT VALID;
ALTER TABLE reports ALTER COLUMN status_changed_at SET NOT NULL;
ALTER TABLE reports ADD COLUMN shredded_at TIMESTAMP;
ALTER TABLE reports ADD COLUMN legal_hold_at TIMESTAMP;
ALTER TABLE reports ADD COLUMN erase_requested_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN legal_hold_at TIMESTAMP;
CREATE INDEX reports_retention ON reports (status, status_changed_at) WHERE shredded_at IS NULL;
