DROP TABLE data_keys;
DROP TRIGGER reports_reporter_id_unused_update;
DROP TRIGGER reports_reporter_id_unused_insert;
DROP INDEX reports_owner_tag;
CREATE INDEX reports_reporter_id ON reports (reporter_id, created_at DESC, id DESC);
ALTER TABLE reports DROP COLUMN owner_tag;
ALTER TABLE users RENAME COLUMN login TO email;
