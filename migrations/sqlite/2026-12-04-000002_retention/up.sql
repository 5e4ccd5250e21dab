-- Withdrawal, receipts, shredding and retention (SPEC §13).
-- status_changed_at starts a report's retention clock; shredded_at marks a tombstone (content,
-- key, messages and notes destroyed); legal_hold_at on a report or its case stops shredding;
-- erase_requested_at is a reporter's withdrawal with erase that waits for a hold to be lifted.
ALTER TABLE reports ADD COLUMN status_changed_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE reports SET status_changed_at = updated_at;
ALTER TABLE reports ADD COLUMN shredded_at TIMESTAMP;
ALTER TABLE reports ADD COLUMN legal_hold_at TIMESTAMP;
ALTER TABLE reports ADD COLUMN erase_requested_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN legal_hold_at TIMESTAMP;
CREATE INDEX reports_retention ON reports (status, status_changed_at) WHERE shredded_at IS NULL;
