-- SPEC §12.1, §12.2: a second factor for staff, and device tokens.

-- One TOTP secret per account, sealed under the master key and bound to the account's id.
-- Pending until confirmed; last_step is the last time step accepted, moved forward only by a
-- conditional UPDATE so that one code signs in once.
CREATE TABLE user_totp (
    user_id UUID PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    confirmed_at TIMESTAMP,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- A device that signed in before: its own login throttle, so strangers' guesses cannot lock it out.
CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX device_tokens_user_id ON device_tokens (user_id);
