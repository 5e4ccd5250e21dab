DROP TABLE data_keys;
ALTER TABLE reports DROP CONSTRAINT reports_reporter_id_unused;
DROP INDEX reports_owner_tag;
CREATE INDEX reports_reporter_id ON reports (reporter_id, created_at DESC, id DESC);
ALTER TABLE reports DROP COLUMN owner_tag;
ALTER TABLE users RENAME COLUMN login TO email;
