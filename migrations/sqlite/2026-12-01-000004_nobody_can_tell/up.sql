-- SPEC §14: nobody can tell who reported.

-- An account signs in by its login: a staff member's email, or for a reporter only the keyed
-- hash of their login name (`hmac:…`), written by the service, which holds the key.
ALTER TABLE users RENAME COLUMN email TO login;

-- A report's owner is a keyed tag of the owner's account id, so a dump of the database cannot
-- connect an account to its reports. reporter_id is emptied by the service at start (it needs
-- the key to compute the tags) and may hold nothing from then on.
ALTER TABLE reports ADD COLUMN owner_tag TEXT;
DROP INDEX reports_reporter_id;
CREATE INDEX reports_owner_tag ON reports (owner_tag, created_at DESC, id DESC);
CREATE TRIGGER reports_reporter_id_unused_insert BEFORE INSERT ON reports
WHEN NEW.reporter_id IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'reports.reporter_id is not used: ownership is owner_tag');
END;
CREATE TRIGGER reports_reporter_id_unused_update BEFORE UPDATE OF reporter_id ON reports
WHEN NEW.reporter_id IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'reports.reporter_id is not used: ownership is owner_tag');
END;

-- Data keys of cases and stations (SPEC §14.4), wrapped under the master key like a report's.
CREATE TABLE data_keys (
    owner_table TEXT NOT NULL CHECK (owner_table IN ('cases', 'stations')),
    owner_id TEXT NOT NULL CHECK (length(owner_id) = 36),
    key_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (owner_table, owner_id)
);
