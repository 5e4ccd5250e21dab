DROP INDEX reports_retention;
ALTER TABLE cases DROP COLUMN legal_hold_at;
ALTER TABLE reports DROP COLUMN erase_requested_at;
ALTER TABLE reports DROP COLUMN legal_hold_at;
ALTER TABLE reports DROP COLUMN shredded_at;
ALTER TABLE reports DROP COLUMN status_changed_at;
