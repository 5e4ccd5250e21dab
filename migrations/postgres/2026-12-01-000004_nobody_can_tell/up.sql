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
ALTER TABLE reports ADD CONSTRAINT reports_reporter_id_unused CHECK (reporter_id IS NULL) NOT VALID;

-- Data keys of cases and stations (SPEC §14.4), wrapped under the master key like a report's.
CREATE TABLE data_keys (
    owner_table TEXT NOT NULL CHECK (owner_table IN ('cases', 'stations')),
    owner_id UUID NOT NULL,
    key_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (owner_table, owner_id)
);
