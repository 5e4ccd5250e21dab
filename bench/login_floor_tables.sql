-- Tables of bench/login_floor.sql, the PostgreSQL baseline of bench/login.sh: copies of the
-- service's tables a successful login with TOTP writes to, with their indexes, defaults, checks
-- and foreign keys, in a schema of their own (login_floor) so that the baseline's rows never
-- touch the service's audit chain. One account, with its TOTP row, is copied from the service's
-- tables (bench/login.sh runs this after creating the flood's accounts).
DROP SCHEMA IF EXISTS login_floor CASCADE;
CREATE SCHEMA login_floor;
SET search_path = login_floor;
CREATE TABLE users (LIKE public.users INCLUDING ALL);
CREATE TABLE user_totp (LIKE public.user_totp INCLUDING ALL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE TABLE sessions (LIKE public.sessions INCLUDING ALL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE TABLE refresh_tokens (LIKE public.refresh_tokens INCLUDING ALL,
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE);
CREATE TABLE device_tokens (LIKE public.device_tokens INCLUDING ALL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE TABLE audit_log (LIKE public.audit_log INCLUDING ALL);
CREATE SEQUENCE audit_seq;
INSERT INTO users SELECT * FROM public.users WHERE id = (SELECT user_id FROM public.user_totp LIMIT 1);
INSERT INTO user_totp SELECT * FROM public.user_totp WHERE user_id = (SELECT id FROM users);
