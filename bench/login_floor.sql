-- pgbench script of the PostgreSQL baseline for bench/login.sh, on the tables of
-- bench/login_floor_tables.sql: the rows a successful login with TOTP leaves, written by the
-- database alone, one login a transaction, with no read, no lock and no staging: the TOTP step
-- moved forward, the session, its refresh token, the device token (stored hashed, SPEC §12.2)
-- and the audit entry. Not even the audit hash tree's nodes, which the service stores but could
-- compute: this is the least SPEC lets a login write, not our design, and none of the service's
-- statements are copied.
-- bench/login.sh passes :uid, the one account's id, with -D.
BEGIN;
UPDATE user_totp SET last_step = last_step + 1 WHERE user_id = :uid;
INSERT INTO sessions (id, user_id, created_at, expires_at)
    VALUES (gen_random_uuid(), :uid, now(), now() + interval '14 days') RETURNING id AS sid \gset
INSERT INTO refresh_tokens (token_hash, session_id, created_at)
    VALUES (md5(random()::text) || md5(random()::text), :sid, now());
INSERT INTO device_tokens (token_hash, user_id, created_at, expires_at)
    VALUES (md5(random()::text) || md5(random()::text), :uid, now(), now() + interval '90 days');
-- The details are those of a login's entry; pgbench would read their colons as variables, so
-- they are written with '=' and turned into ':' by the database.
INSERT INTO audit_log (seq, at, actor_id, actor_role, action, target_type, target_id, details, request_id, prev_hash, hash)
    VALUES (nextval('audit_seq'), now(), :uid, 'caseworker', 'auth.login', 'user', :uid,
        replace('{"enrolment"=false,"known_device"=false,"rehashed"=false,"second_factor"="totp","session_id"="' || :sid || '"}', '=', chr(58)),
        gen_random_uuid(), md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text));
COMMIT;
