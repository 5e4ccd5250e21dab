DROP TABLE key_fingerprints;
ALTER TABLE user_totp DROP COLUMN master_key_id;
