-- Key rotation (SPEC §13).

-- A TOTP secret names the master key it is sealed under, as a wrapped data key does, so that a
-- rotation can find and re-seal it. '' marks a secret sealed before this column: it opens under
-- one of the keyring's keys, found by trying each, and the next rotation names it.
ALTER TABLE user_totp ADD COLUMN master_key_id TEXT NOT NULL DEFAULT '';

-- A fingerprint of each key the database was written with that no rotation changes (the index
-- key of receipts, login names, owner tags and throttles), checked at start: a service started
-- with another index key would find no receipt and no reporter login, so it refuses to start.
CREATE TABLE key_fingerprints (
    purpose TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
